package genailedgerexporter

import (
	"encoding/hex"
	"encoding/json"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/genaimeter/genaimeter/internal/deadletter"
	"github.com/genaimeter/genaimeter/internal/store/usagejson"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// deadLetter appends refused records to a JSON-lines file, one object per
// record:
//
//	{"time":"<when refused, RFC 3339>","exporter":"genai_ledger/pg","reason":"malformed",
//	 "error":"genaimeter.input_tokens: want an int, got Str","event_id":"...",
//	 "log_record":{...}}        (not_usage_record, malformed: the log record as received)
//	 "record":{...usagejson}}   (store_rejected: the decoded usage record)
//
// so that nothing refused is lost: it can be inspected, fixed and replayed.
// Every append is fsynced before the batch is acknowledged.
type deadLetter struct {
	path     string
	exporter string
	now      func() time.Time

	// file is opened by open (at start); after close, its Append reopens it.
	file *deadletter.File
}

// deadLetterLogRecord is a refused log record as received.
type deadLetterLogRecord struct {
	Timestamp  string         `json:"timestamp,omitempty"`
	EventName  string         `json:"event_name,omitempty"`
	TraceID    string         `json:"trace_id,omitempty"`
	SpanID     string         `json:"span_id,omitempty"`
	Body       any            `json:"body,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Resource   map[string]any `json:"resource,omitempty"`
}

type deadLetterEntry struct {
	Time      string               `json:"time"`
	Exporter  string               `json:"exporter"`
	Reason    string               `json:"reason"`
	Error     string               `json:"error"`
	EventID   string               `json:"event_id,omitempty"`
	LogRecord *deadLetterLogRecord `json:"log_record,omitempty"`
	Record    json.RawMessage      `json:"record,omitempty"`
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
	e := deadLetterEntry{
		Time: d.now().UTC().Format(time.RFC3339Nano), Exporter: d.exporter, Reason: reason, Error: err.Error(), EventID: eventID,
		LogRecord: &deadLetterLogRecord{
			EventName:  lr.EventName(),
			Body:       lr.Body().AsRaw(),
			Attributes: lr.Attributes().AsRaw(),
			Resource:   res.Resource().Attributes().AsRaw(),
		},
	}
	if ts := lr.Timestamp(); ts != 0 {
		e.LogRecord.Timestamp = ts.AsTime().UTC().Format(time.RFC3339Nano)
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		e.LogRecord.TraceID = hex.EncodeToString(id[:])
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		e.LogRecord.SpanID = hex.EncodeToString(id[:])
	}
	return marshalLine(&e)
}

// recordLine is the entry of a decoded record the store refused.
func (d *deadLetter) recordLine(reason string, err error, r *usage.Record) []byte {
	return marshalLine(&deadLetterEntry{
		Time: d.now().UTC().Format(time.RFC3339Nano), Exporter: d.exporter, Reason: reason, Error: err.Error(),
		EventID: r.EventID, Record: usagejson.Append(nil, r),
	})
}

func marshalLine(e *deadLetterEntry) []byte {
	b, err := json.Marshal(e)
	if err != nil {
		// Only plain strings, maps from pcommon and valid JSON go in.
		b, _ = json.Marshal(deadLetterEntry{Time: e.Time, Exporter: e.Exporter, Reason: e.Reason,
			Error: e.Error + " (entry not encodable: " + err.Error() + ")", EventID: e.EventID})
	}
	return append(b, '\n')
}

// write appends lines and syncs them to disk.
func (d *deadLetter) write(lines []byte) error { return d.file.Append(lines) }

func (d *deadLetter) close() error { return d.file.Close() }
