package deadletter

import (
	"encoding/hex"
	"encoding/json"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// Entry is one line of a dead-letter file, in the one format every exporter
// writes (genai_ledger and genai_billing), so that one tool reads, fixes and
// replays both:
//
//	{"time":"<when refused, RFC 3339 UTC>","exporter":"<component id>","reason":"<reason>",
//	 "error":"<why>","event_ids":["<usage record event id>",...],
//	 "log_record":{...},   the log record as received (a record refused before it was decoded or billed)
//	 "record":{...},       the decoded usage record (usagejson), when the record itself was refused
//	 "event":{...}}        the billing event a backend refused or that cannot be sent
//
// Time, exporter and reason are always there; the rest when known.
type Entry struct {
	Time      time.Time       `json:"time"`
	Exporter  string          `json:"exporter"`
	Reason    string          `json:"reason"`
	Error     string          `json:"error,omitempty"`
	EventIDs  []string        `json:"event_ids,omitempty"`
	LogRecord *LogRecord      `json:"log_record,omitempty"`
	Record    json.RawMessage `json:"record,omitempty"`
	Event     *Event          `json:"event,omitempty"`
}

// LogRecord is a refused log record as received.
type LogRecord struct {
	Timestamp  string         `json:"timestamp,omitempty"`
	EventName  string         `json:"event_name,omitempty"`
	TraceID    string         `json:"trace_id,omitempty"`
	SpanID     string         `json:"span_id,omitempty"`
	Body       any            `json:"body,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	Resource   map[string]any `json:"resource,omitempty"`
}

// Event is a billing event: what would have been, or was, sent to a backend.
type Event struct {
	Backend    string            `json:"backend"`
	Key        string            `json:"idempotency_key,omitempty"`
	Meter      string            `json:"meter,omitempty"`
	Tenant     string            `json:"tenant,omitempty"`
	Customer   string            `json:"customer,omitempty"`
	Value      string            `json:"value,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
	Status     int               `json:"status,omitempty"`   // HTTP status of a refusal
	Response   string            `json:"response,omitempty"` // response body of a refusal
}

// LogRecordOf captures lr (of resource res) as received.
func LogRecordOf(res pcommon.Resource, lr plog.LogRecord) *LogRecord {
	out := &LogRecord{
		EventName:  lr.EventName(),
		Body:       lr.Body().AsRaw(),
		Attributes: lr.Attributes().AsRaw(),
		Resource:   res.Attributes().AsRaw(),
	}
	if len(out.Attributes) == 0 {
		out.Attributes = nil
	}
	if len(out.Resource) == 0 {
		out.Resource = nil
	}
	if ts := lr.Timestamp(); ts != 0 {
		out.Timestamp = ts.AsTime().UTC().Format(time.RFC3339Nano)
	}
	if id := lr.TraceID(); !id.IsEmpty() {
		out.TraceID = hex.EncodeToString(id[:])
	}
	if id := lr.SpanID(); !id.IsEmpty() {
		out.SpanID = hex.EncodeToString(id[:])
	}
	return out
}

// Line encodes e as one JSON line (newline included), its time in UTC. A log
// record JSON cannot carry (a NaN or infinite double among its attributes)
// is left out and the error says so: one poison record must not stop the
// exporter, whose batch would otherwise be retried forever.
func Line(e *Entry) []byte {
	c := *e
	c.Time = c.Time.UTC()
	b, err := json.Marshal(&c)
	if err != nil {
		c.LogRecord = nil
		c.Error += " (log record not encodable: " + err.Error() + ")"
		if b, err = json.Marshal(&c); err != nil {
			// Only strings, decimals and usagejson remain: cannot fail, but
			// the line must still say what was refused.
			b, _ = json.Marshal(Entry{Time: c.Time, Exporter: c.Exporter, Reason: c.Reason,
				Error: c.Error + " (entry not encodable: " + err.Error() + ")", EventIDs: c.EventIDs})
		}
	}
	return append(b, '\n')
}
