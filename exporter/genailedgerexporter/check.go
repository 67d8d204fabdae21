package genailedgerexporter // import "github.com/genaimeter/genaimeter/exporter/genailedgerexporter"

import (
	"github.com/genaimeter/genaimeter/internal/configcheck"
)

// CheckOffline makes the checks Start makes and Validate must not (it is
// pure): the files the exporter writes (SQLite ledger, file sink, dead
// letter) can be opened or created. Nothing is created. Keys are relative to
// the exporter's configuration; the sending_queue storage extension is
// checked by the caller, which sees the extensions.
func (c *Config) CheckOffline() configcheck.Problems {
	var ps configcheck.Problems
	if c.SQLite.Path != "" {
		ps.Add("sqlite.path", configcheck.WritableFile(c.SQLite.Path))
	}
	if c.File.HasValue() {
		ps.Add("file.path", configcheck.WritableFile(c.File.Get().Path))
	}
	if c.DeadLetter.HasValue() {
		ps.Add("dead_letter.path", configcheck.WritableFile(c.DeadLetter.Get().Path))
	}
	return ps
}
