package genaibillingexporter

import (
	"encoding/json"
	"time"

	"github.com/genaimeter/genaimeter/internal/deadletter"
)

// Dead-letter reasons (the reason attribute of the dead_lettered metric).
const (
	reasonNotUsageRecord = "not_usage_record" // a log record that is not a usage record
	reasonMalformed      = "malformed"        // a usage record that does not decode or validate
	reasonUnmappedTenant = "unmapped_tenant"  // held back: no customer id for the tenant
	reasonNoValue        = "no_value"         // a billable record without the meter's amount (unpriced)
	reasonInexactValue   = "inexact_value"    // Stripe takes integers; the scaled value is not one
	reasonConditionError = "condition_error"  // the billing condition failed to evaluate
	reasonRejected       = "rejected"         // the backend refused the event (4xx)
)

// deadLetter is one line of the dead-letter file. Every record or event that
// is not delivered lands here with the reason, so that nothing is dropped
// silently and an operator can fix the cause and replay the line.
type deadLetter struct {
	Time     time.Time         `json:"time"`
	Exporter string            `json:"exporter"`
	Backend  string            `json:"backend"`
	Reason   string            `json:"reason"`
	Error    string            `json:"error,omitempty"`
	Status   int               `json:"status,omitempty"`   // HTTP status of a refusal
	Response string            `json:"response,omitempty"` // response body of a refusal
	Key      string            `json:"idempotency_key,omitempty"`
	Meter    string            `json:"meter,omitempty"`
	Tenant   string            `json:"tenant,omitempty"`
	Customer string            `json:"customer,omitempty"`
	Value    string            `json:"value,omitempty"`
	EventIDs []string          `json:"event_ids,omitempty"`
	Record   map[string]any    `json:"record,omitempty"` // the log record's attributes, for record-level reasons
	Props    map[string]string `json:"properties,omitempty"`
}

// deadLetterFile appends the entries as JSON lines, synced once per write, so
// that an export reports success only after its dead letters are on disk.
type deadLetterFile struct{ file *deadletter.File }

func openDeadLetter(path string) (*deadLetterFile, error) {
	f, err := deadletter.Open(path)
	if err != nil {
		return nil, err
	}
	return &deadLetterFile{file: f}, nil
}

func (d *deadLetterFile) write(entries []deadLetter) error {
	var buf []byte
	for i := range entries {
		b, err := json.Marshal(&entries[i])
		if err != nil {
			// A record attribute JSON cannot carry (a NaN or infinite
			// double): keep the line without the attributes. Failing would
			// retry the batch forever and hold up all billing behind it.
			e := entries[i]
			e.Record = nil
			e.Error += " (record attributes not encodable: " + err.Error() + ")"
			if b, err = json.Marshal(&e); err != nil {
				return err
			}
		}
		buf = append(append(buf, b...), '\n')
	}
	return d.file.Append(buf)
}

func (d *deadLetterFile) close() error {
	if d == nil {
		return nil
	}
	return d.file.Close()
}
