package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
)

// costProcessor wires the metering pipeline — recognize (genaiconv.Extract) →
// attribute (identity.go) → price (pricing.go) → decide the plan and
// billability (billing.go) → charge the revenue (pricing.go) → write
// (attributes.go) — and counts its outcomes (tally.go). Calls whose ancestors
// have not arrived wait in the hold (held.go, internal/hold).
type costProcessor struct {
	cfg        *Config
	logger     *zap.Logger
	telemetry  *metadata.TelemetryBuilder
	next       consumer.Traces
	pricer     *pricer // the layered, refreshable price book and the rate cards; nil until started
	conv       *genaiconv.Conventions
	reconciler *reconciler // compares reported costs with ours (pricing.reported_cost)
	billing    *biller
	keys       [ancestry.NumFields][]string
	idKeys     identityKeys // keys, for ownIdentity's one pass
	now        func() time.Time
	id         component.ID
	stopOnce   sync.Once

	// mu guards what spans leave behind for later ones: the ancestry memory,
	// the call indexes, the held calls and the unpriced series.
	mu     sync.Mutex
	memory *ancestry.Memory
	// calls remembers the spans with an LLM call below them, so that a
	// wrapper span knows whether its call was seen (wrappers.go).
	calls *callIndex
	// selfTraced remembers the parents of provider SDK self-traced spans and
	// meteredCalls the instrumentation spans metered, so that a call with
	// both spans is metered once (selftrace.go).
	selfTraced   *callIndex
	meteredCalls *callIndex
	held         *hold.Holder[heldCall]
	counters
}

func newCostProcessor(set processor.Settings, cfg *Config, next consumer.Traces) (*costProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	conv, err := conventions(cfg.TokenConventions)
	if err != nil {
		return nil, err
	}
	bill, err := newBiller(&cfg.Billing, set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	rec, err := newReconciler(&cfg.Pricing.ReportedCost)
	if err != nil {
		return nil, err
	}
	a := &cfg.Attribution
	p := &costProcessor{
		cfg: cfg, logger: set.Logger, telemetry: tb, next: next, conv: conv, reconciler: rec, billing: bill,
		keys:         [ancestry.NumFields][]string{idTenant: a.Tenant, idUser: a.User, idSession: a.Session, idFeature: a.Feature},
		now:          time.Now,
		id:           set.ID,
		memory:       ancestry.New(a.Ancestors.MaxRememberedSpans),
		calls:        newCallIndex(a.Ancestors.MaxRememberedSpans),
		selfTraced:   newCallIndex(a.Ancestors.MaxRememberedSpans),
		meteredCalls: newCallIndex(a.Ancestors.MaxRememberedSpans),
		counters:     newCounters(),
	}
	p.idKeys = newIdentityKeys(p.keys)
	p.held = hold.New(hold.Settings[heldCall]{
		Wait: a.Ancestors.Wait, MaxHeld: a.Ancestors.MaxPendingSpans, Durable: a.Ancestors.Storage != nil,
		Lock: &p.mu, Now: func() time.Time { return p.now() }, Finish: p.meterReleased,
		Next:   func(ctx context.Context, td ptrace.Traces) error { return p.next.ConsumeTraces(ctx, td) },
		Logger: set.Logger, StorageErrors: tb.ProcessorGenaiCostHeldStorageErrors,
	})
	return p, nil
}

// start holds again the calls kept in attribution.ancestors.storage, loads
// the plans and the prices — a missing or malformed file fails the start with
// its path and the reason, rather than pricing calls wrongly later —, and
// starts the clock that lets held calls go when their wait runs out.
func (p *costProcessor) start(ctx context.Context, host component.Host) error {
	if id := p.cfg.Attribution.Ancestors.Storage; id != nil {
		if err := p.restore(ctx, host, *id); err != nil {
			return fmt.Errorf("genai_cost: attribution.ancestors.storage: %w", err)
		}
	}
	// The plans load first: once the pricer is set, shutdown expects the
	// hold's clock to run.
	if err := p.billing.startPlans(p.countPlanReload); err != nil {
		p.held.Close(ctx)
		return err
	}
	prices, err := newPricer(&p.cfg.Pricing, p.logger, p.countRefresh)
	if err != nil {
		p.billing.stopPlans()
		p.held.Close(ctx)
		return fmt.Errorf("genai_cost: loading prices: %w", err)
	}
	prices.startRefresh()
	p.pricer = prices
	p.held.Start()
	return nil
}

// shutdown lets every held call go: nothing accepted is dropped. When ctx
// ends first, the held calls stay held (in the storage, if any, for the next
// start) and are logged, but the refresh and plan loops, the storage and the
// telemetry are stopped all the same.
func (p *costProcessor) shutdown(ctx context.Context) error {
	var err error
	p.stopOnce.Do(func() {
		err = p.held.Shutdown(ctx)
		if _, ok := errors.AsType[*hold.NotLetGoError](err); ok {
			err = fmt.Errorf("genai_cost: %w", err)
		}
		p.billing.stopPlans()
		p.pricer.shutdown()
		p.telemetry.Shutdown()
	})
	return err
}

func (p *costProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	if p.pricer == nil {
		return td, errors.New("genai_cost: processor not started")
	}
	var b batchWalk
	p.mu.Lock()
	touched := p.remember(td)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := genaiconv.ScopeOf(ss.Scope())
			ss.Spans().RemoveIf(func(span ptrace.Span) bool {
				return p.recognize(ctx, span, scope, rs, ss, &b)
			})
		}
	}
	// Wrappers of this batch, now that every call of it was seen; then the
	// calls held earlier that this batch lets go.
	p.decideWrappers(ctx, &b)
	p.takeResolved(ctx, touched, &b)
	refused := b.bill.err // error_mode propagate: a billing rule failed on a call of this batch
	if refused == nil {
		// The calls the batch leaves held are stored before it is acknowledged.
		if err := p.held.Persist(ctx, b.holds); err != nil {
			refused = fmt.Errorf("genai_cost: %w", err)
		}
	}
	if refused != nil {
		// The batch is refused, as contrib does, and its sender sends it again:
		// the calls it held are let go of, or they would go on twice. Held
		// calls let go during the walk came with earlier batches, already
		// accepted: they go on alone. The batch's own wrappers come back
		// with it.
		b.unhold(p.held)
		p.mu.Unlock()
		p.count(ctx, &b.tally)
		return td, errors.Join(refused, p.held.Emit(ctx, b.goOn))
	}
	if len(b.goOn) > 0 {
		hold.Gather(b.goOn, td)
		p.held.Deliver(td, b.goOn)
	}
	p.mu.Unlock()
	p.count(ctx, &b.tally)
	if len(b.holds) > 0 || len(b.wrappers) > 0 {
		// Drop the resource and scope entries that holding emptied.
		td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
			rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })
			return rs.ScopeSpans().Len() == 0
		})
	}
	if td.ResourceSpans().Len() == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return td, nil
}

// recognize meters one span if it is an LLM call, and reports whether the
// span was taken out of the batch (to wait for its ancestors, or, a wrapper,
// to be decided after the walk). Errors never leave it: a span that cannot be
// metered is flagged and counted, and the rest of the batch goes on.
func (p *costProcessor) recognize(ctx context.Context, span ptrace.Span, scope genaiconv.Scope, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, b *batchWalk) bool {
	// A malformed usage is no reason to lose the call: it goes on with
	// call.Invalid set and is recorded as invalid_usage (see checkCall).
	call, kind, _ := genaiconv.Extract(span, scope, p.conv)
	switch kind {
	case genaiconv.Inference:
	case genaiconv.Wrapper:
		if p.calls.has(ancestry.Key{Trace: span.TraceID(), Span: span.SpanID()}) {
			// Its call came first (the SDK ends the call before the wrapper):
			// it goes on unmetered, where it is.
			return false
		}
		p.takeWrapper(span, call, rs, ss, b)
		return true
	default:
		return false
	}
	p.noteCall(span)
	if p.duplicateCall(span, scope) {
		// Its other span (SDK self-tracing and instrumentation) is the
		// metered one: this one goes on unmetered, where it is.
		return false
	}
	own := p.callIdentity(span.Attributes(), call)
	id := own
	if !p.memory.Resolve(span.TraceID(), span.ParentSpanID(), &id) && p.cfg.Attribution.Ancestors.Wait > 0 {
		p.hold(ctx, hold.NewCall(hold.Copy(span, rs, ss), heldCall{call: call, own: own}), b)
		return true
	}
	p.meter(ctx, span, &call, &id, rs, ss, &b.tally)
	return false
}

// meter runs the pipeline on one LLM call whose identity is as final as it
// gets, and writes the outcome on its span: who made it (the resource fills
// what the span and its ancestors left missing), whether it can be metered at
// all, its price, its plan, its revenue, and — the billing rules reading the
// span as metered — whether it is billable.
func (p *costProcessor) meter(ctx context.Context, span ptrace.Span, call *genaiconv.Call, id *ancestry.Identity, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, t *tally) {
	p.noteMetered(span, genaiconv.ScopeOf(ss.Scope()))
	var m metered
	p.attribute(&m, id, rs, t)
	if reason := p.checkCall(span, call); reason != "" {
		m.status = statusInvalid
		p.countInvalid(span, call, reason, t)
		writeMeter(span.Attributes(), call, &m, nil)
		return
	}
	p.price(span, call, &m)
	m.plan = p.billing.plan(m.id[idTenant])
	p.charge(call, &m)
	p.countMetered(ctx, call, &m, t)
	writeMeter(span.Attributes(), call, &m, func() *decision {
		return p.billing.decide(ctx, rs, ss, span, m.partial, &t.bill)
	})
}
