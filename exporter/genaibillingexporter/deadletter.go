package genaibillingexporter

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Dead-letter reasons (the reason attribute of the dead_lettered metric).
const (
	reasonNotUsageRecord = "not_usage_record" // a log record that is not a usage record
	reasonMalformed      = "malformed"        // a usage record that does not decode
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

// deadLetterFile appends JSON lines and syncs once per write, so that an
// export reports success only after its dead letters are on disk.
type deadLetterFile struct {
	mu sync.Mutex
	f  *os.File
}

func openDeadLetter(path string) (*deadLetterFile, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("dead_letter.path: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("dead_letter.path: %w", err)
	}
	return &deadLetterFile{f: f}, nil
}

func (d *deadLetterFile) write(entries []deadLetter) error {
	if len(entries) == 0 {
		return nil
	}
	var buf []byte
	for i := range entries {
		b, err := json.Marshal(&entries[i])
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.f.Write(buf); err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("dead-letter file: %w", err)
	}
	return nil
}

func (d *deadLetterFile) close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
