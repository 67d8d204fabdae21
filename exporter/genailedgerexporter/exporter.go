package genailedgerexporter

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/configcheck"
	"github.com/genaimeter/genaimeter/internal/plogselect"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Values of the reason attribute of records_rejected and records_dead_lettered.
const (
	reasonNotUsageRecord = "not_usage_record" // no genaimeter.event_id: not ours
	reasonMalformed      = "malformed"        // ours, but a field is missing, mistyped or invalid
	reasonStoreRejected  = "store_rejected"   // valid for us, refused by the store (e.g. a NUL byte for PostgreSQL)
)

// maxRejectSamples bounds how many rejected records are described one by one
// in the warning and in the permanent error of a batch, so that a misrouted
// pipeline full of foreign logs does not flood the log.
const maxRejectSamples = 10

// Attribute sets are built once: Add is called once per batch on the hot path.
var (
	rejectedNotUsage  = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonNotUsageRecord)))
	rejectedMalformed = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonMalformed)))
	rejectedByStore   = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", reasonStoreRejected)))
)

type ledgerExporter struct {
	cfg    *Config
	set    component.TelemetrySettings
	logger *zap.Logger

	sinkName string
	sink     recordSink
	// deadLetter is nil unless dead_letter is configured.
	deadLetter *deadLetter

	// Attribute sets of the per-sink metrics.
	sinkAttr, failedRetryable, failedPermanent metric.MeasurementOption

	// Set in start; nil until then (shutdown must cope).
	telemetry *metadata.TelemetryBuilder
}

func newLedgerExporter(cfg *Config, set exporter.Settings) *ledgerExporter {
	name := cfg.sinkName()
	e := &ledgerExporter{
		cfg: cfg, set: set.TelemetrySettings, logger: set.Logger,
		sinkName:        name,
		sink:            newSink(cfg),
		sinkAttr:        metric.WithAttributeSet(attribute.NewSet(attribute.String("sink", name))),
		failedRetryable: metric.WithAttributeSet(attribute.NewSet(attribute.String("sink", name), attribute.String("error_type", "retryable"))),
		failedPermanent: metric.WithAttributeSet(attribute.NewSet(attribute.String("sink", name), attribute.String("error_type", "permanent"))),
	}
	if ps, ok := e.sink.(*postgresSink); ok {
		ps.logger = set.Logger
	}
	if cfg.DeadLetter.HasValue() {
		e.deadLetter = &deadLetter{path: cfg.DeadLetter.Get().Path, exporter: set.ID.String(), now: time.Now}
	}
	return e
}

// start opens the sink (and the dead-letter file). Any failure here fails
// the collector's start-up: a ledger that cannot be written must not look
// healthy.
func (e *ledgerExporter) start(ctx context.Context, host component.Host) error {
	tb, err := metadata.NewTelemetryBuilder(e.set)
	if err != nil {
		return err
	}
	// Before exporterhelper starts the queue: its own error does not name
	// the missing extension.
	if q := e.cfg.QueueConfig; q.HasValue() && q.Get().StorageID != nil {
		if err := configcheck.StorageExtension("sending_queue.storage", *q.Get().StorageID, host); err != nil {
			return err
		}
	}
	e.telemetry = tb
	if e.deadLetter != nil {
		if err := e.deadLetter.open(); err != nil {
			return err
		}
	}
	return e.sink.Start(ctx, host)
}

// shutdown is nil-safe and idempotent. exporterhelper drains the queue before
// it calls shutdown, so nothing is written after the sink is closed.
func (e *ledgerExporter) shutdown(ctx context.Context) error {
	err := e.sink.Shutdown(ctx)
	if e.deadLetter != nil {
		err = errors.Join(err, e.deadLetter.close())
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
	// deadLetters are the dead-letter lines of the rejected records.
	deadLetters []byte
	// keep[i] is false for the i-th log record of the batch (in iteration
	// order) if it was rejected; nil while nothing is rejected.
	keep []bool
}

func (r *rejection) total() int64 { return r.notUsage + r.malformed }

// add records the i-th of n log records as rejected and returns the reason.
func (r *rejection) add(i, n int, eventID string, err error) string {
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
	return reason
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
	// logIndex[j] is the position of recs[j] among the batch's log records.
	var logIndex []int
	var rej rejection
	i := 0
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				r, err := usage.FromLogRecord(lr)
				if err == nil {
					err = usage.ValidateRecord(&r)
				}
				switch {
				case err != nil:
					reason := rej.add(i, n, r.EventID, err)
					if e.deadLetter != nil {
						rej.deadLetters = append(rej.deadLetters, e.deadLetter.logLine(reason, r.EventID, err, rl, lr)...)
					}
				case rej.keep != nil:
					rej.keep[i] = true
					recs = append(recs, r)
					logIndex = append(logIndex, i)
				default:
					recs = append(recs, r)
					logIndex = append(logIndex, i)
				}
				i++
			}
		}
	}

	if rej.total() > 0 {
		// Dead letters first: if they cannot be written, the whole batch is
		// retried (nothing is counted yet), so a refused record is never
		// dropped without its trace.
		if len(rej.deadLetters) > 0 {
			if err := e.deadLetter.write(rej.deadLetters); err != nil {
				return fmt.Errorf("genai_ledger: %w", err)
			}
			if rej.notUsage > 0 {
				e.telemetry.ExporterGenaiLedgerRecordsDeadLettered.Add(ctx, rej.notUsage, rejectedNotUsage)
			}
			if rej.malformed > 0 {
				e.telemetry.ExporterGenaiLedgerRecordsDeadLettered.Add(ctx, rej.malformed, rejectedMalformed)
			}
		}
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

	var res writeResult
	err := e.write(ctx, recs, 0, &res)
	if len(res.Rejected) > 0 {
		if derr := e.storeRejected(ctx, recs, res.Rejected); derr != nil {
			// Not dead-lettered, so not counted: retry all the good records.
			err = errors.Join(err, derr)
		} else {
			// Refused and recorded: a retry must not send them again.
			if rej.keep == nil {
				rej.keep = make([]bool, n)
				for _, li := range logIndex {
					rej.keep[li] = true
				}
			}
			for _, rr := range res.Rejected {
				rej.keep[logIndex[rr.Index]] = false
			}
		}
	}
	// Count what the sink stored even when a later part of the batch failed:
	// those records are in the store now (a retry finds them as duplicates).
	if res.Written > 0 {
		e.telemetry.ExporterGenaiLedgerRecordsWritten.Add(ctx, int64(res.Written), e.sinkAttr)
	}
	if res.Duplicates > 0 {
		e.telemetry.ExporterGenaiLedgerRecordsDuplicate.Add(ctx, int64(res.Duplicates), e.sinkAttr)
	}
	if err != nil {
		if rej.keep != nil {
			// Retry only the good records: the rejected ones are already
			// counted and logged, and would be refused again.
			return consumererror.NewLogs(err, plogselect.Select(ld, func(i int) bool { return rej.keep[i] }, nil))
		}
		return err
	}
	e.logger.Debug("Stored usage records", zap.String("sink", e.sinkName),
		zap.Int("new", res.Written), zap.Int("duplicates", res.Duplicates),
		zap.Int64("rejected", rej.total()+int64(len(res.Rejected))))
	return nil
}

// write writes recs (at offset base of the batch) to the sink and adds the
// outcome to res. A permanent error on several records splits them in halves
// until the bad records are alone: they become res.Rejected and the others
// are stored. Rewriting records already stored is safe (idempotent inserts;
// Kafka and file consumers deduplicate on the event id); the split costs
// O(bad × log(batch)) writes, and bad records are rare.
func (e *ledgerExporter) write(ctx context.Context, recs []usage.Record, base int, res *writeResult) error {
	r, err := e.sink.Write(ctx, recs)
	if err == nil {
		res.Written += r.Written
		res.Duplicates += r.Duplicates
		for _, rr := range r.Rejected {
			res.Rejected = append(res.Rejected, rejectedRecord{Index: base + rr.Index, Err: rr.Err})
		}
		return nil
	}
	if !consumererror.IsPermanent(err) {
		e.telemetry.ExporterGenaiLedgerWriteFailures.Add(ctx, 1, e.failedRetryable)
		return err
	}
	e.telemetry.ExporterGenaiLedgerWriteFailures.Add(ctx, 1, e.failedPermanent)
	if len(recs) == 1 {
		res.Rejected = append(res.Rejected, rejectedRecord{Index: base, Err: err})
		return nil
	}
	mid := len(recs) / 2
	if err := e.write(ctx, recs[:mid], base, res); err != nil {
		return err
	}
	return e.write(ctx, recs[mid:], base+mid, res)
}

// storeRejected dead-letters, counts and logs the records the sink refused.
func (e *ledgerExporter) storeRejected(ctx context.Context, recs []usage.Record, rejected []rejectedRecord) error {
	if e.deadLetter != nil {
		var lines []byte
		for _, rr := range rejected {
			lines = append(lines, e.deadLetter.recordLine(reasonStoreRejected, rr.Err, &recs[rr.Index])...)
		}
		if err := e.deadLetter.write(lines); err != nil {
			return fmt.Errorf("genai_ledger: %w", err)
		}
		e.telemetry.ExporterGenaiLedgerRecordsDeadLettered.Add(ctx, int64(len(rejected)), rejectedByStore)
	}
	e.telemetry.ExporterGenaiLedgerRecordsRejected.Add(ctx, int64(len(rejected)), rejectedByStore)
	var samples []string
	for i, rr := range rejected {
		if i == maxRejectSamples {
			samples = append(samples, fmt.Sprintf("and %d more", len(rejected)-i))
			break
		}
		samples = append(samples, fmt.Sprintf("event_id %s: %v", recs[rr.Index].EventID, rr.Err))
	}
	e.logger.Warn("The sink refused usage records as bad data; they are not stored",
		zap.String("sink", e.sinkName), zap.Int("rejected", len(rejected)), zap.String("reasons", strings.Join(samples, "; ")))
	return nil
}
