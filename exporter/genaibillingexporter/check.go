package genaibillingexporter // import "github.com/genaimeter/genaimeter/exporter/genaibillingexporter"

import (
	"github.com/genaimeter/genaimeter/internal/configcheck"
	"github.com/genaimeter/genaimeter/internal/filemap"
)

// CheckOffline makes the checks Start makes and Validate must not (it is
// pure): the customers file is a valid map and the dead-letter file can be
// created. Keys are relative to the exporter's configuration; the
// sending_queue storage extension is checked by the caller, which sees the
// extensions.
func (c *Config) CheckOffline() configcheck.Problems {
	var ps configcheck.Problems
	if f := c.Customers.File; f != "" {
		if _, err := filemap.Load(f); err != nil {
			ps.Add("customers.file", err)
		}
	}
	if p := c.DeadLetter.Path; p != "" {
		ps.Add("dead_letter.path", configcheck.WritableFile(p))
	}
	return ps
}
