package genaibillingexporter

import (
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

// deadLetterFile appends entries in the format of package deadletter (the
// same as genai_ledger's), synced once per write, so that an export reports
// success only after its dead letters are on disk. Every record or event
// that is not delivered lands there with the reason: nothing is dropped
// silently, and an operator can fix the cause and replay the line.
type deadLetterFile struct{ file *deadletter.File }

func openDeadLetter(path string) (*deadLetterFile, error) {
	f, err := deadletter.Open(path)
	if err != nil {
		return nil, err
	}
	return &deadLetterFile{file: f}, nil
}

func (d *deadLetterFile) write(entries []deadletter.Entry) error {
	var buf []byte
	for i := range entries {
		buf = append(buf, deadletter.Line(&entries[i])...)
	}
	return d.file.Append(buf)
}

func (d *deadLetterFile) close() error {
	if d == nil {
		return nil
	}
	return d.file.Close()
}
