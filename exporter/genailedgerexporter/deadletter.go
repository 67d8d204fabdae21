package genailedgerexporter

import (
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/genaimeter/genaimeter/internal/deadletter"
	"github.com/genaimeter/genaimeter/internal/store/usagejson"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// deadLetter appends refused records to a JSON-lines file in the format of
// package deadletter (the same as genai_billing's): a log record refused
// before it became a record (not_usage_record, malformed) with the log
// record as received, a record the store refused (store_rejected) with the
// decoded record (usagejson). Nothing refused is lost: it can be inspected,
// fixed and replayed. Every append is fsynced before the batch is
// acknowledged.
type deadLetter struct {
	path     string
	exporter string
	now      func() time.Time

	// file is opened by open (at start); after close, its Append reopens it.
	file *deadletter.File
}

func (d *deadLetter) open() error {
	f, err := deadletter.Open(d.path)
	if err != nil {
		return err
	}
	d.file = f
	return nil
}

// logLine is the entry of a log record refused before it became a record.
func (d *deadLetter) logLine(reason, eventID string, err error, res plog.ResourceLogs, lr plog.LogRecord) []byte {
	e := deadletter.Entry{Time: d.now(), Exporter: d.exporter, Reason: reason, Error: err.Error(),
		LogRecord: deadletter.LogRecordOf(res.Resource(), lr)}
	if eventID != "" {
		e.EventIDs = []string{eventID}
	}
	return deadletter.Line(&e)
}

// recordLine is the entry of a decoded record the store refused.
func (d *deadLetter) recordLine(reason string, err error, r *usage.Record) []byte {
	return deadletter.Line(&deadletter.Entry{Time: d.now(), Exporter: d.exporter, Reason: reason, Error: err.Error(),
		EventIDs: []string{r.EventID}, Record: usagejson.Append(nil, r)})
}

// write appends lines and syncs them to disk.
func (d *deadLetter) write(lines []byte) error { return d.file.Append(lines) }

func (d *deadLetter) close() error { return d.file.Close() }
