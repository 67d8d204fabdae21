package genailedgerexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Values of the reason attribute of records_rejected.
const (
	reasonNotUsageRecord = "not_usage_record" // no genaimeter.event_id: not ours
	reasonMalformed      = "malformed"        // ours, but a field is missing, mistyped or invalid
)

// maxRejectSamples bounds how many rejected records are described one by one
// in the warning and in the permanent error of a batch, so that a misrouted
// pipeline full of foreign logs does not flood the log.
const maxRejectSamples = 10

// Attribute sets are built once: Add is called once per batch on the hot path.
var (
	rejectedNotUsage  = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonNotUsageRecord)))
	rejectedMalformed = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonMalformed)))
)

type ledgerExporter struct {
	cfg    *Config
	set    component.TelemetrySettings
	logger *zap.Logger

	// Set in start; nil until then (shutdown must cope).
	store     *sqlitestore.Store
	telemetry *metadata.TelemetryBuilder
}

func newLedgerExporter(cfg *Config, set exporter.Settings) *ledgerExporter {
	return &ledgerExporter{cfg: cfg, set: set.TelemetrySettings, logger: set.Logger}
}

// start opens the database and brings its schema forward. Any failure here
// fails the collector's start-up: a ledger that cannot be written must not
// look healthy.
func (e *ledgerExporter) start(ctx context.Context, _ component.Host) error {
	tb, err := metadata.NewTelemetryBuilder(e.set)
	if err != nil {
		return err
	}
	e.telemetry = tb
	st, err := sqlitestore.Open(e.cfg.SQLite.Path)
	if err != nil {
		return err
	}
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		return err
	}
	e.store = st
	return nil
}

// shutdown is nil-safe and idempotent. exporterhelper drains the queue before
// it calls shutdown, so nothing is written after the store is closed.
func (e *ledgerExporter) shutdown(context.Context) error {
	var err error
	if e.store != nil {
		err = e.store.Close()
		e.store = nil
	}
	if e.telemetry != nil {
		e.telemetry.Shutdown()
		e.telemetry = nil
	}
	return err
}

// rejection describes the bad records of one batch.
type rejection struct {
	notUsage, malformed int64
	samples             []string
	// keep[i] is false for the i-th log record of the batch (in iteration
	// order) if it was rejected; nil while nothing is rejected.
	keep []bool
}

func (r *rejection) total() int64 { return r.notUsage + r.malformed }

func (r *rejection) add(i, n int, eventID string, err error) {
	if r.keep == nil {
		r.keep = make([]bool, n)
		for j := range i {
			r.keep[j] = true
		}
	}
	reason := reasonMalformed
	if errors.Is(err, usage.ErrNotUsageRecord) {
		reason = reasonNotUsageRecord
		r.notUsage++
	} else {
		r.malformed++
	}
	if len(r.samples) < maxRejectSamples {
		id := "no event_id"
		if eventID != "" {
			id = "event_id " + eventID
		}
		r.samples = append(r.samples, fmt.Sprintf("record %d (%s) %s: %v", i, id, reason, err))
	}
}

func (r *rejection) summary() string {
	s := strings.Join(r.samples, "; ")
	if more := r.total() - int64(len(r.samples)); more > 0 {
		s += fmt.Sprintf("; and %d more", more)
	}
	return s
}

func (e *ledgerExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	n := ld.LogRecordCount()
	if n == 0 {
		return nil
	}
	recs := make([]usage.Record, 0, n)
	var rej rejection
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				r, err := usage.FromLogRecord(lr)
				if err == nil {
					err = sqlitestore.ValidateRecord(&r)
				}
				switch {
				case err != nil:
					rej.add(i, n, r.EventID, err)
				case rej.keep != nil:
					rej.keep[i] = true
					recs = append(recs, r)
				default:
					recs = append(recs, r)
				}
				i++
			}
		}
	}

	if rej.total() > 0 {
		if rej.notUsage > 0 {
			e.telemetry.ExporterGenaiLedgerRecordsRejected.Add(ctx, rej.notUsage, rejectedNotUsage)
		}
		if rej.malformed > 0 {
			e.telemetry.ExporterGenaiLedgerRecordsRejected.Add(ctx, rej.malformed, rejectedMalformed)
		}
		e.logger.Warn("Rejected log records that are not valid usage records; they are not stored",
			zap.Int64("rejected", rej.total()),
			zap.Int64(reasonNotUsageRecord, rej.notUsage),
			zap.Int64(reasonMalformed, rej.malformed),
			zap.Int("accepted", len(recs)),
			zap.String("reasons", rej.summary()))
		if len(recs) == 0 {
			// Retrying bad data cannot help: drop it, loudly.
			return consumererror.NewPermanent(fmt.Errorf("genai_ledger: all %d log records rejected: %s", n, rej.summary()))
		}
	}

	inserted, duplicates, err := e.store.Insert(ctx, recs)
	if err != nil {
		if errors.Is(err, sqlitestore.ErrInvalidRecord) {
			// Unreachable while pushLogs filters with ValidateRecord; permanent
			// because a retry would fail the same way.
			return consumererror.NewPermanent(err)
		}
		if sqlitestore.IsTransient(err) {
			err = fmt.Errorf("genai_ledger: database busy, will retry: %w", err)
		}
		if rej.keep != nil {
			// Retry only the good records: the rejected ones are already
			// counted and logged, and would be refused again.
			return consumererror.NewLogs(err, keptLogs(ld, rej.keep))
		}
		return err
	}
	e.telemetry.ExporterGenaiLedgerRecordsWritten.Add(ctx, int64(inserted))
	e.telemetry.ExporterGenaiLedgerRecordsDuplicate.Add(ctx, int64(duplicates))
	e.logger.Debug("Stored usage records",
		zap.Int("new", inserted), zap.Int("duplicates", duplicates), zap.Int64("rejected", rej.total()))
	return nil
}

// keptLogs copies the log records of ld whose keep flag is set (in iteration
// order) into new Logs, with their resource and scope.
func keptLogs(ld plog.Logs, keep []bool) plog.Logs {
	out := plog.NewLogs()
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		var outRL plog.ResourceLogs
		haveRL := false
		for _, sl := range rl.ScopeLogs().All() {
			var outSL plog.ScopeLogs
			haveSL := false
			for _, lr := range sl.LogRecords().All() {
				if keep[i] {
					if !haveRL {
						outRL = out.ResourceLogs().AppendEmpty()
						rl.Resource().CopyTo(outRL.Resource())
						outRL.SetSchemaUrl(rl.SchemaUrl())
						haveRL = true
					}
					if !haveSL {
						outSL = outRL.ScopeLogs().AppendEmpty()
						sl.Scope().CopyTo(outSL.Scope())
						outSL.SetSchemaUrl(sl.SchemaUrl())
						haveSL = true
					}
					lr.CopyTo(outSL.LogRecords().AppendEmpty())
				}
				i++
			}
		}
	}
	return out
}
