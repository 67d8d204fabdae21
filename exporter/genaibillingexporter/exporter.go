package genaibillingexporter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/exporter/genaibillingexporter/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/configcheck"
	"github.com/genaimeter/genaimeter/internal/deadletter"
	"github.com/genaimeter/genaimeter/internal/filemap"
	"github.com/genaimeter/genaimeter/internal/plogselect"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// attrPending is set on the copies of log records handed back to
// exporterhelper for a retry: the meters of this exporter still to deliver.
// Without it a retry would re-aggregate a record into windows that were
// already delivered, under a different key (a different set of event ids),
// and bill it twice.
const attrPending = "genaimeter.billing.pending_meters"

// maxResendRounds bounds the immediate resends of events that a backend did
// not process only because other events of their batch were refused.
const maxResendRounds = 3

type billingExporter struct {
	cfg    *Config
	set    component.TelemetrySettings
	logger *zap.Logger
	id     string
	now    func() time.Time
	cond   *condition
	meters []meter
	// integerOnly: the backend takes whole numbers only (Stripe meters).
	integerOnly bool

	backendOpt metric.MeasurementOption
	reasonOpts map[string]metric.MeasurementOption

	// Set in start; nil until then (shutdown must cope).
	backend   backend
	customers *filemap.Map
	dead      *deadLetterFile
	windows   *windowStore
	telemetry *metadata.TelemetryBuilder
	self      component.ID
}

func newBillingExporter(cfg *Config, set exporter.Settings, now func() time.Time) (*billingExporter, error) {
	cond, err := newCondition(cfg, set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	e := &billingExporter{
		cfg: cfg, set: set.TelemetrySettings, logger: set.Logger, id: set.ID.String(), now: now, self: set.ID,
		cond: cond, meters: newMeters(cfg.Meters), integerOnly: cfg.Backend == backendStripe,
		backendOpt: metric.WithAttributeSet(attribute.NewSet(attribute.String("backend", cfg.Backend))),
		reasonOpts: map[string]metric.MeasurementOption{},
	}
	for _, r := range []string{reasonNotUsageRecord, reasonMalformed, reasonUnmappedTenant, reasonNoValue,
		reasonInexactValue, reasonConditionError, reasonRejected} {
		e.reasonOpts[r] = metric.WithAttributeSet(attribute.NewSet(
			attribute.String("backend", cfg.Backend), attribute.String("reason", r)))
	}
	return e, nil
}

func (e *billingExporter) start(ctx context.Context, host component.Host) error {
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
	client, err := e.cfg.ClientConfig.ToClient(ctx, host.GetExtensions(), e.set)
	if err != nil {
		return err
	}
	e.backend = newBackend(e.cfg, client, e.now)
	if e.customers, err = openCustomers(e.cfg.Customers, e.logger); err != nil {
		return err
	}
	if e.dead, err = openDeadLetter(e.cfg.DeadLetter.Path); err != nil {
		return err
	}
	if e.cfg.Aggregation.Window > 0 {
		if e.windows, err = openWindowStore(ctx, host, e.cfg.Aggregation.Storage, e.self); err != nil {
			return err
		}
		if e.cfg.Aggregation.Storage == nil {
			e.logger.Warn("aggregation.window without aggregation.storage: which calls each window contained is kept in memory only; a call replayed after a restart (queue redelivery, client retry) is billed again. Set aggregation.storage to a storage extension (file_storage).")
		}
	}
	return nil
}

// shutdown is nil-safe and idempotent; exporterhelper drains the queue first.
func (e *billingExporter) shutdown(context.Context) error {
	if e.customers != nil {
		e.customers.Stop()
		e.customers = nil
	}
	err := errors.Join(e.dead.close(), e.windows.close(context.Background()))
	e.dead, e.windows = nil, nil
	if e.telemetry != nil {
		e.telemetry.Shutdown()
		e.telemetry = nil
	}
	return err
}

// batch is what one export derives from its log records.
type batch struct {
	events []*event
	dead   []deadletter.Entry
	held   int64
	// resent are stored windows not yet settled that calls of this batch
	// went into; replayed counts calls of settled windows (not sent again).
	resent   []*event
	replayed int64
}

// deadRecord is the entry of a log record that is not billed, as received.
func (e *billingExporter) deadRecord(rl plog.ResourceLogs, lr plog.LogRecord, r *usage.Record, reason string, err error) deadletter.Entry {
	d := deadletter.Entry{Time: e.now(), Exporter: e.id, Reason: reason, LogRecord: deadletter.LogRecordOf(rl.Resource(), lr)}
	if err != nil {
		d.Error = err.Error()
	}
	if r.EventID != "" {
		d.EventIDs = []string{r.EventID}
	}
	return d
}

// deadEvent is the entry of an event that a backend refused or that cannot
// be sent.
func (e *billingExporter) deadEvent(ev *event, reason string, o outcome) deadletter.Entry {
	d := deadletter.Entry{Time: e.now(), Exporter: e.id, Reason: reason, EventIDs: ev.ids,
		Event: &deadletter.Event{Backend: e.cfg.Backend, Key: ev.key, Meter: ev.meter, Tenant: ev.tenant, Customer: ev.customer,
			Value: ev.valueText(), Properties: ev.props, Status: o.status, Response: o.body}}
	if o.err != nil {
		d.Error = o.err.Error()
	}
	return d
}

// pendingMeters reads attrPending: nil means every meter.
func pendingMeters(lr plog.LogRecord) map[string]bool {
	v, ok := lr.Attributes().Get(attrPending)
	if !ok || v.Type() != pcommon.ValueTypeSlice {
		return nil
	}
	m := map[string]bool{}
	for _, x := range v.Slice().All() {
		m[x.Str()] = true
	}
	return m
}

// derive turns log records into events, and everything that cannot be billed
// into dead letters.
func (e *billingExporter) derive(ctx context.Context, ld plog.Logs) (*batch, error) {
	b := &batch{events: make([]*event, 0, ld.LogRecordCount()*len(e.meters))}
	aggregating := e.cfg.Aggregation.Window > 0
	i := -1
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, lr := range sl.LogRecords().All() {
				i++
				r, err := usage.FromLogRecord(lr)
				if err == nil {
					// A foreign log record that only looks like a usage
					// record is never billed.
					err = usage.ValidateRecord(&r)
				}
				if err != nil {
					reason := reasonMalformed
					if errors.Is(err, usage.ErrNotUsageRecord) {
						reason = reasonNotUsageRecord
					}
					b.dead = append(b.dead, e.deadRecord(rl, lr, &r, reason, err))
					continue
				}
				tctx := ottllog.NewTransformContext(rl, sl, lr)
				ok, err := e.cond.eval(ctx, tctx)
				tctx.Close()
				if err != nil {
					b.dead = append(b.dead, e.deadRecord(rl, lr, &r, reasonConditionError, err))
					continue
				}
				if !ok {
					continue
				}
				customer, ok := e.customers.Lookup(r.TenantID)
				if !ok {
					b.held++
					b.dead = append(b.dead, e.deadRecord(rl, lr, &r, reasonUnmappedTenant,
						fmt.Errorf("tenant %q has no customer id in %s", r.TenantID, e.cfg.Customers.File)))
					continue
				}
				pending := pendingMeters(lr)
				for mi := range e.meters {
					m := &e.meters[mi]
					if pending != nil && !pending[m.name] {
						continue
					}
					ev := &event{key: singleKey(r.EventID, m.name), meter: m.name, tenant: r.TenantID,
						customer: customer, time: r.Time, records: []int{i}, ids: []string{r.EventID}}
					if err := m.amount(&r, &ev.value); err != nil {
						d := e.deadRecord(rl, lr, &r, reasonNoValue, err)
						d.Event = &deadletter.Event{Backend: e.cfg.Backend, Key: ev.key, Meter: m.name, Tenant: ev.tenant, Customer: ev.customer}
						b.dead = append(b.dead, d)
						continue
					}
					if ev.value.IsZero() {
						// Nothing to bill on this meter (e.g. no cache tokens).
						continue
					}
					if !aggregating {
						ev.props = recordProps(&r)
					} else {
						// Already in a window: never aggregated again (see
						// windowStore), its window is sent again if not settled.
						key, w, err := e.windows.windowOf(ctx, r.EventID, m.name)
						if err != nil {
							return nil, &storeError{err}
						}
						if w != nil {
							if err := b.resend(key, w, i); err != nil {
								return nil, &storeError{err}
							}
							continue
						}
					}
					b.events = append(b.events, ev)
				}
			}
		}
	}
	var fresh []*event
	if aggregating {
		var err error
		if b.events, err = aggregate(b.events, e.cfg.Aggregation.Window); err != nil {
			return nil, err
		}
		fresh = b.events
	}
	if e.integerOnly {
		kept := b.events[:0]
		for _, ev := range b.events {
			if ev.isInteger() {
				kept = append(kept, ev)
				continue
			}
			b.dead = append(b.dead, e.deadEvent(ev, reasonInexactValue, outcome{
				err: fmt.Errorf("%s takes whole numbers; value %s is not one (set meters[].scale)", e.cfg.Backend, ev.valueText())}))
		}
		b.events = kept
		if aggregating {
			fresh = kept
		}
	}
	if aggregating {
		// New windows are written before they are sent (see windowStore).
		if err := e.windows.remember(ctx, fresh); err != nil {
			return nil, &storeError{err}
		}
		b.events = append(b.events, b.resent...)
	}
	return b, nil
}

// storeError is a failure of the aggregation storage: retryable, nothing of
// the batch was sent.
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// resend adds record i's stored window to the batch (once per window), unless
// it is settled: a replayed call is then not billed again.
func (b *batch) resend(key string, w *storedWindow, i int) error {
	if w.Settled {
		b.replayed++
		return nil
	}
	for _, ev := range b.resent {
		if ev.key == key {
			ev.records = append(ev.records, i)
			return nil
		}
	}
	ev, err := w.event(key)
	if err != nil {
		return err
	}
	ev.records = []int{i}
	b.resent = append(b.resent, ev)
	return nil
}

func recordProps(r *usage.Record) map[string]string {
	p := make(map[string]string, 3)
	model := r.CatalogModel
	if model == "" {
		model = r.RequestModel
	}
	if model != "" {
		p["model"] = model
	}
	if r.Provider != "" {
		p["provider"] = r.Provider
	}
	if r.Feature != "" {
		p["feature"] = r.Feature
	}
	return p
}

// deliver sends the events in batches of the backend's size, at most
// max_concurrent_requests at a time, and returns each event's final outcome
// for this export. Events a backend left unprocessed only because of others in
// their batch are resent at once without those.
func (e *billingExporter) deliver(ctx context.Context, evs []*event) []outcome {
	out := make([]outcome, len(evs))
	todo := make([]int, len(evs))
	for i := range todo {
		todo[i] = i
	}
	for round := 0; len(todo) > 0; round++ {
		size := e.backend.maxBatch()
		sem := make(chan struct{}, e.cfg.MaxConcurrentRequests)
		var wg sync.WaitGroup
		for start := 0; start < len(todo); start += size {
			chunk := todo[start:min(start+size, len(todo))]
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				batch := make([]*event, len(chunk))
				for j, k := range chunk {
					batch[j] = evs[k]
				}
				res := e.backend.send(ctx, batch)
				for j, k := range chunk {
					out[k] = res[j]
				}
			}()
		}
		wg.Wait()
		var next []int
		for _, k := range todo {
			if out[k].fate == fateResend {
				if round+1 >= maxResendRounds {
					out[k].fate = fateRetry
					out[k].err = errors.New("batch refused repeatedly because of other events")
					continue
				}
				next = append(next, k)
			}
		}
		todo = next
	}
	return out
}

func (e *billingExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	if ld.LogRecordCount() == 0 {
		return nil
	}
	b, err := e.derive(ctx, ld)
	if err != nil {
		var se *storeError
		if errors.As(err, &se) {
			return fmt.Errorf("genai_billing/%s: %w", e.cfg.Backend, err)
		}
		return consumererror.NewPermanent(err)
	}
	outcomes := e.deliver(ctx, b.events)
	if e.cfg.Aggregation.Window > 0 {
		var settled []*event
		for i, o := range outcomes {
			if o.fate != fateRetry {
				settled = append(settled, b.events[i])
			}
		}
		// Not settled, a window is sent again with its key on a replay (the
		// backend dedupes it): a failure here costs a request, not a double bill.
		if err := e.windows.settle(ctx, settled); err != nil {
			e.logger.Warn("Could not mark aggregated windows as sent; a replay of their calls sends them again under the same key", zap.Error(err))
		}
	}

	var sent, dup, retried int64
	var delay time.Duration
	var lastErr error
	// retry[i] lists the meters still to deliver for record i.
	var retry map[int][]string
	for i, o := range outcomes {
		ev := b.events[i]
		switch o.fate {
		case fateDelivered:
			sent++
		case fateDuplicate:
			dup++
		case fatePermanent:
			b.dead = append(b.dead, e.deadEvent(ev, reasonRejected, o))
		default: // fateRetry
			retried++
			delay = max(delay, o.retryAfter)
			lastErr = o.err
			if retry == nil {
				retry = map[int][]string{}
			}
			for _, r := range ev.records {
				retry[r] = append(retry[r], ev.meter)
			}
		}
	}
	// Dead letters go to disk before the export is acknowledged: if they
	// cannot be written, the whole batch is retried (the keys dedupe what
	// was already delivered) rather than lost.
	if err := e.dead.write(b.dead); err != nil {
		return err
	}
	e.record(ctx, b, sent, dup+b.replayed, retried)
	if retry == nil {
		return nil
	}
	err = fmt.Errorf("genai_billing/%s: %d of %d events not delivered, will retry: %w", e.cfg.Backend, retried, len(b.events), lastErr)
	if delay > 0 {
		err = exporterhelper.NewThrottleRetry(err, delay)
	}
	return consumererror.NewLogs(err, retryLogs(ld, retry))
}

func (e *billingExporter) record(ctx context.Context, b *batch, sent, dup, retried int64) {
	t := e.telemetry
	if sent > 0 {
		t.ExporterGenaiBillingEventsSent.Add(ctx, sent, e.backendOpt)
	}
	if dup > 0 {
		t.ExporterGenaiBillingEventsDuplicate.Add(ctx, dup, e.backendOpt)
	}
	if retried > 0 {
		t.ExporterGenaiBillingEventsRetried.Add(ctx, retried, e.backendOpt)
	}
	if b.held > 0 {
		t.ExporterGenaiBillingRecordsHeld.Add(ctx, b.held, e.backendOpt)
	}
	if len(b.dead) > 0 {
		counts := map[string]int64{}
		for i := range b.dead {
			counts[b.dead[i].Reason]++
		}
		for r, n := range counts {
			t.ExporterGenaiBillingDeadLettered.Add(ctx, n, e.reasonOpts[r])
		}
		e.logger.Warn("Usage records or billing events not delivered; written to the dead-letter file",
			zap.Int("entries", len(b.dead)), zap.String("path", e.cfg.DeadLetter.Path), zap.Any("by_reason", counts))
	}
}

// retryLogs copies the records to retry (with their resource and scope) and
// marks each with the meters still to deliver.
func retryLogs(ld plog.Logs, retry map[int][]string) plog.Logs {
	return plogselect.Select(ld, func(i int) bool { _, ok := retry[i]; return ok },
		func(i int, c plog.LogRecord) {
			s := c.Attributes().PutEmptySlice(attrPending)
			seen := map[string]bool{}
			for _, m := range retry[i] {
				if !seen[m] {
					seen[m] = true
					s.AppendEmpty().SetStr(m)
				}
			}
		})
}
