package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
)

// Identity fields, as indexes into ancestry.Identity.
const (
	idTenant = iota
	idUser
	idSession
	idFeature
)

// Why a held call was let go (the release_reason attribute).
const (
	releaseArrived  = "ancestors_arrived"
	releaseExpired  = "wait_expired"
	releaseCapacity = "capacity"
	releaseShutdown = "shutdown"
	// releaseCallArrived: a held wrapper's model-call child arrived; the
	// wrapper goes on unmetered.
	releaseCallArrived = "call_arrived"
)

type costProcessor struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	next      consumer.Traces
	catalog   *pricer // the layered, refreshable price book and rate cards (pricing.go); nil until started
	conv      *genaiconv.Conventions
	// reconciler compares reported costs with ours (pricing.reported_cost).
	reconciler *reconciler
	keys       [ancestry.NumFields][]string
	now        func() time.Time
	billing    *biller

	// mu guards the ancestry memory and the held calls.
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
	pending      pendingCalls
	// store keeps the held calls in attribution.ancestors.storage; nil when
	// they are in memory only. inflight are the stored calls let go into a
	// batch, by batch, until the next consumer has accepted it (afterNext).
	store    *heldStore
	inflight map[ptrace.Traces][]*pendingCall
	id       component.ID

	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}

	// Attribute sets of the counters, built once.
	statusAttrs  map[string]metric.MeasurementOption
	releaseAttrs map[string]metric.MeasurementOption
	invalidAttrs map[string]metric.MeasurementOption
	storeAttrs   map[string]metric.MeasurementOption
}

// Storage operations that can fail (the operation attribute).
const (
	storePersist = "persist"
	storeRelease = "release"
)

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
		billing:      bill,
		reconciler:   rec,
		conv:         conv,
		cfg:          cfg,
		logger:       set.Logger,
		telemetry:    tb,
		next:         next,
		keys:         [ancestry.NumFields][]string{idTenant: a.Tenant, idUser: a.User, idSession: a.Session, idFeature: a.Feature},
		now:          time.Now,
		memory:       ancestry.New(a.Ancestors.MaxRememberedSpans),
		calls:        newCallIndex(a.Ancestors.MaxRememberedSpans),
		selfTraced:   newCallIndex(a.Ancestors.MaxRememberedSpans),
		meteredCalls: newCallIndex(a.Ancestors.MaxRememberedSpans),
		pending:      newPendingCalls(),
		inflight:     map[ptrace.Traces][]*pendingCall{},
		id:           set.ID,
		stop:         make(chan struct{}),
		stopped:      make(chan struct{}),
		statusAttrs:  map[string]metric.MeasurementOption{},
		releaseAttrs: map[string]metric.MeasurementOption{},
		invalidAttrs: map[string]metric.MeasurementOption{},
		storeAttrs:   map[string]metric.MeasurementOption{},
	}
	for _, o := range []string{storePersist, storeRelease} {
		p.storeAttrs[o] = metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", o)))
	}
	for _, r := range invalidReasons {
		p.invalidAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	for _, s := range usage.Statuses {
		p.statusAttrs[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String("pricing_status", s)))
	}
	for _, r := range []string{releaseArrived, releaseExpired, releaseCapacity, releaseShutdown, releaseCallArrived} {
		p.releaseAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("release_reason", r)))
	}
	return p, nil
}

// start loads the price catalog — a missing or malformed file fails the start
// with its path and the reason, rather than pricing calls wrongly later —,
// holds again the calls kept in attribution.ancestors.storage, and starts the
// clock that lets held calls go when their wait runs out.
func (p *costProcessor) start(ctx context.Context, host component.Host) error {
	if id := p.cfg.Attribution.Ancestors.Storage; id != nil {
		if err := p.restore(ctx, host, *id); err != nil {
			return fmt.Errorf("genai_cost: %w", err)
		}
	}
	// The plans load first: once the catalog is set, shutdown expects the
	// expiry loop to run.
	if err := p.billing.startPlans(p.countPlanReload); err != nil {
		p.closeStore(ctx)
		return err
	}
	book, err := newPricer(&p.cfg.Pricing, p.logger, p.countRefresh)
	if err != nil {
		p.billing.stopPlans()
		p.closeStore(ctx)
		return fmt.Errorf("genai_cost: loading prices: %w", err)
	}
	book.startRefresh()
	p.catalog = book
	// Calls restored from storage are let go by the loop even when wait is
	// now 0 (their deadline is then now).
	if wait := p.cfg.Attribution.Ancestors.Wait; wait > 0 || p.pending.len() > 0 {
		go p.expireLoop(tickFor(wait))
	} else {
		close(p.stopped)
	}
	return nil
}

// restore opens the storage of held calls and holds again, with a fresh wait,
// every call it kept: calls held when the collector stopped or crashed. They
// were never metered, so they are metered once, when let go.
func (p *costProcessor) restore(ctx context.Context, host component.Host, id component.ID) error {
	store, err := newHeldStore(ctx, host, id, p.id)
	if err != nil {
		return err
	}
	calls, err := store.load(ctx)
	if err != nil {
		_ = store.close(ctx)
		return err
	}
	deadline := p.now().Add(p.cfg.Attribution.Ancestors.Wait)
	var n int64
	for _, sc := range calls {
		ss := sc.td.ResourceSpans().At(0).ScopeSpans().At(0)
		span := ss.Spans().At(0)
		call, kind, _ := genaiconv.Extract(span, genaiconv.ScopeOf(ss.Scope()), p.conv)
		own := p.callIdentity(span.Attributes(), call)
		pc := p.pending.add(sc.td, call, &own, deadline)
		pc.seq, pc.idx = sc.seq, sc.idx
		// Only a change of configuration (token_conventions) can make a stored
		// call not an LLM call; it then goes on as it came. A call that became
		// malformed is recorded as invalid (call.Invalid). A wrapper waits
		// again for its call.
		pc.wrapper = kind == genaiconv.Wrapper
		pc.passThrough = kind != genaiconv.Inference && !pc.wrapper
		// A held SDK self-traced span marks its parent again, so that a held
		// instrumentation span of the same call is not metered as well.
		if genaiconv.SelfTracingSDK(genaiconv.ScopeOf(ss.Scope())) {
			p.noteSelfTraced(ss.Spans())
		}
		n++
	}
	p.store = store
	if n > 0 {
		p.telemetry.ProcessorGenaiCostCallsRestored.Add(ctx, n)
		p.telemetry.ProcessorGenaiCostPendingCalls.Add(ctx, n)
		p.logger.Info("Holding again the LLM calls held before the last stop", zap.Int64("calls", n), zap.Stringer("storage", id))
	}
	return nil
}

func (p *costProcessor) closeStore(ctx context.Context) {
	if p.store != nil {
		if err := p.store.close(ctx); err != nil {
			p.logger.Warn("Closing the storage of held calls", zap.Error(err))
		}
		p.store = nil
	}
}

// tickFor is how often held calls are checked for expiry: a tenth of the
// wait, between 10ms and 1s, so a call is held at most ~10% past its wait.
func tickFor(wait time.Duration) time.Duration {
	return min(max(wait/10, 10*time.Millisecond), time.Second)
}

// shutdown lets every held call go: nothing accepted is dropped. When ctx
// ends before the expiry loop has stopped, the held calls stay held (in the
// storage, if any, for the next start) and are logged, but the refresh and
// plan loops, the storage and the telemetry are stopped all the same.
func (p *costProcessor) shutdown(ctx context.Context) error {
	var err error
	p.stopOnce.Do(func() {
		close(p.stop)
		if p.catalog != nil { // started
			select {
			case <-p.stopped:
				err = p.releaseAll(ctx)
			case <-ctx.Done():
				p.mu.Lock()
				held, stored := p.pending.len(), p.store != nil
				p.mu.Unlock()
				p.logger.Error("Shutdown ended before the held LLM calls were let go",
					zap.Int("calls", held), zap.Bool("stored", stored), zap.Error(ctx.Err()))
				err = fmt.Errorf("genai_cost: %d held calls not let go: %w", held, ctx.Err())
			}
		}
		// A batch still in flight (the expiry loop's, when ctx ended) then
		// finds no storage: its calls are not forgotten and come back at the
		// next start.
		p.mu.Lock()
		store := p.store
		p.store = nil
		p.mu.Unlock()
		if store != nil {
			err = errors.Join(err, store.close(ctx))
		}
		p.billing.stopPlans()
		p.catalog.shutdown()
		p.telemetry.Shutdown()
	})
	return err
}

// batchCounts accumulates self-telemetry for one batch, so that counters are
// updated once per batch rather than once per span.
type batchCounts struct {
	priced, unpriced, noUsage, unattributed, held int64
	// invalid counts the calls recorded as invalid_usage, by reason.
	invalid map[string]int64
	// costDiffers counts calls whose reported cost differs from ours.
	costDiffers int64
	released    map[string]int64
	bill        billingCounts
	// carried are held calls let go while the batch is being walked; they join
	// the batch after the walk, so that they are not metered twice.
	carried []*pendingCall
	// holds are the calls the batch held (capacity may let one go again within
	// the same walk).
	holds []*pendingCall
	// wrappers are the wrapper spans of the batch, taken out during the walk
	// and decided after it (decideWrappers).
	wrappers []*pendingCall
}

func (n *batchCounts) carry(pc *pendingCall) { n.carried = append(n.carried, pc) }

// gather moves the spans of calls let go into td.
func gather(pcs []*pendingCall, td ptrace.Traces) {
	for _, pc := range pcs {
		pc.td.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
}

func (n *batchCounts) release(reason string, k int64) {
	if n.released == nil {
		n.released = map[string]int64{}
	}
	n.released[reason] += k
}

func (p *costProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	if p.catalog == nil {
		return td, errors.New("genai_cost: processor not started")
	}
	var n batchCounts
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
				return p.processSpan(ctx, span, scope, rs, ss, &n)
			})
		}
	}
	// Wrappers of this batch, now that every call of it was seen.
	p.decideWrappers(ctx, &n)
	// Calls held earlier whose ancestors came with this batch go on with it,
	// and so do wrappers held earlier whose call came with it (unmetered).
	for _, trace := range touched {
		for _, pc := range p.pending.resolvable(trace, p.memory, p.calls) {
			p.finishHeld(ctx, pc, &n)
			if pc.wrapper {
				n.release(releaseCallArrived, 1)
			} else {
				n.release(releaseArrived, 1)
			}
			n.carry(pc)
		}
	}
	// error_mode propagate: a billing rule failed on a call of this batch.
	refused := n.bill.err
	if refused == nil && p.store != nil {
		// The calls the batch leaves held are on disk before it is acknowledged.
		refused = p.persistHolds(ctx, &n)
	}
	if refused != nil {
		// The batch is refused, as contrib does, and its sender sends it again:
		// the calls it held are let go of, or they would go on twice. Held
		// calls let go during the walk came with earlier batches, already
		// accepted: they go on alone. The batch's own wrappers come back
		// with it.
		p.unhold(&n)
		n.dropBatchWrappers()
		p.mu.Unlock()
		return td, errors.Join(refused, p.emit(ctx, n.carried, &n))
	}
	if len(n.carried) > 0 {
		gather(n.carried, td)
		if p.store != nil {
			p.inflight[td] = n.carried
		}
	}
	p.mu.Unlock()
	p.record(ctx, &n)
	if td.ResourceSpans().Len() > 0 {
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

// remember records every span of the batch, with the identity found on it, as
// a potential ancestor, before any call of the batch is resolved: a parent in
// the same batch is found whatever the order. It returns the traces of the
// batch that have held calls.
func (p *costProcessor) remember(td ptrace.Traces) []pcommon.TraceID {
	var touched []pcommon.TraceID
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			if genaiconv.SelfTracingSDK(genaiconv.ScopeOf(sss.At(j).Scope())) {
				p.noteSelfTraced(spans)
			}
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				id := p.ownIdentity(span.Attributes())
				p.memory.Put(ancestry.Key{Trace: span.TraceID(), Span: span.SpanID()}, span.ParentSpanID(), &id)
				if p.pending.has(span.TraceID()) && !containsTrace(touched, span.TraceID()) {
					touched = append(touched, span.TraceID())
				}
			}
		}
	}
	return touched
}

func containsTrace(ts []pcommon.TraceID, t pcommon.TraceID) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// persistHolds writes the calls the batch leaves held to the storage; an error
// is retryable (the batch is refused, its sender sends it again).
func (p *costProcessor) persistHolds(ctx context.Context, n *batchCounts) error {
	var holds []*pendingCall
	for _, pc := range n.holds {
		if !pc.done {
			holds = append(holds, pc)
		}
	}
	if len(holds) == 0 {
		return nil
	}
	if err := p.store.persist(ctx, holds); err != nil {
		p.telemetry.ProcessorGenaiCostHeldStorageErrors.Add(ctx, 1, p.storeAttrs[storePersist])
		p.logger.Error("Failed to store held LLM calls; refusing their batch", zap.Int("calls", len(holds)), zap.Error(err))
		return fmt.Errorf("genai_cost: storing %d held calls in %q: %w", len(holds), p.store.id, err)
	}
	return nil
}

// unhold takes back the calls a refused batch held: they come back with it.
func (p *costProcessor) unhold(n *batchCounts) {
	if len(n.holds) == 0 {
		return
	}
	for _, pc := range n.holds {
		n.held--
		if !pc.done {
			p.pending.take(pc)
			continue
		}
		// Held and let go again by capacity in the same walk.
		if n.released[releaseCapacity]--; n.released[releaseCapacity] == 0 {
			delete(n.released, releaseCapacity)
		}
	}
	n.carried = slices.DeleteFunc(n.carried, func(pc *pendingCall) bool { return slices.Contains(n.holds, pc) })
}

// afterNext wraps the next consumer when held calls are stored: the stored
// calls let go into a batch are forgotten only once the next consumer has
// accepted it (with a persistent sending queue: once they are on disk there).
// A crash in between sends them again after the restart, with the same event
// id. Without storage the next consumer is returned as is.
func (p *costProcessor) afterNext(next consumer.Traces) consumer.Traces {
	if p.cfg.Attribution.Ancestors.Storage == nil {
		return next
	}
	c, _ := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		err := next.ConsumeTraces(ctx, td)
		p.mu.Lock()
		released, ok := p.inflight[td]
		delete(p.inflight, td)
		p.mu.Unlock()
		if ok && err == nil {
			p.forget(ctx, released)
		}
		return err
	}, consumer.WithCapabilities(next.Capabilities()))
	return c
}

// forget deletes from the storage calls let go and accepted downstream. A
// failure is counted; the calls then go on again after the next restart.
func (p *costProcessor) forget(ctx context.Context, pcs []*pendingCall) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.store == nil {
		return
	}
	if err := p.store.release(ctx, pcs); err != nil {
		p.telemetry.ProcessorGenaiCostHeldStorageErrors.Add(ctx, 1, p.storeAttrs[storeRelease])
		p.logger.Warn("Failed to forget held LLM calls let go; they will go on again after a restart",
			zap.Int("calls", len(pcs)), zap.Error(err))
	}
}

func (p *costProcessor) record(ctx context.Context, n *batchCounts) {
	add := func(v int64, status string) {
		if v > 0 {
			p.telemetry.ProcessorGenaiCostCalls.Add(ctx, v, p.statusAttrs[status])
		}
	}
	add(n.priced, usage.StatusPriced)
	add(n.unpriced, usage.StatusUnpriced)
	add(n.noUsage, usage.StatusNoUsage)
	if n.costDiffers > 0 {
		p.telemetry.ProcessorGenaiCostReportedCostDiffers.Add(ctx, n.costDiffers)
	}
	for r, k := range n.invalid {
		p.telemetry.ProcessorGenaiCostCalls.Add(ctx, k, p.statusAttrs[usage.StatusInvalidUsage])
		p.telemetry.ProcessorGenaiCostCallsInvalid.Add(ctx, k, p.invalidAttrs[r])
	}
	if n.unattributed > 0 {
		p.telemetry.ProcessorGenaiCostCallsUnattributed.Add(ctx, n.unattributed)
	}
	if n.held > 0 {
		p.telemetry.ProcessorGenaiCostCallsHeld.Add(ctx, n.held)
	}
	var released int64
	for r, k := range n.released {
		p.telemetry.ProcessorGenaiCostCallsReleased.Add(ctx, k, p.releaseAttrs[r])
		released += k
	}
	if d := n.held - released; d != 0 {
		p.telemetry.ProcessorGenaiCostPendingCalls.Add(ctx, d)
	}
	p.recordBilling(ctx, &n.bill)
}

// processSpan meters one span if it is an LLM call, and reports whether the
// span was taken out of the batch to wait for its ancestors. Errors never leave
// this function: a span that cannot be metered is flagged and counted, and the
// rest of the batch goes on.
func (p *costProcessor) processSpan(ctx context.Context, span ptrace.Span, scope genaiconv.Scope, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, n *batchCounts) bool {
	attrs := span.Attributes()
	// A malformed usage is no reason to lose the call: it goes on with
	// call.Invalid set and is recorded as invalid_usage (see finishInvalid).
	call, kind, _ := genaiconv.Extract(span, scope, p.conv)
	if kind == genaiconv.Wrapper {
		if p.calls.has(ancestry.Key{Trace: span.TraceID(), Span: span.SpanID()}) {
			// Its call came first (the SDK ends the call before the wrapper):
			// it goes on unmetered, where it is.
			return false
		}
		p.takeWrapper(span, call, rs, ss, n)
		return true
	}
	if kind != genaiconv.Inference {
		return false
	}
	p.noteCall(span)
	if p.duplicateCall(span, scope) {
		// Its other span (SDK self-tracing and instrumentation) is the
		// metered one: this one goes on unmetered, where it is.
		return false
	}
	own := p.callIdentity(attrs, call)
	id := own
	final := p.memory.Resolve(span.TraceID(), span.ParentSpanID(), &id)
	if !final && p.cfg.Attribution.Ancestors.Wait > 0 {
		p.holdCall(ctx, newPendingCall(holdCopy(span, rs, ss), call, &own), n)
		return true
	}
	p.finish(ctx, span, call, &id, rs, ss, n)
	return false
}

// holdCopy copies a span with its resource and scope into a batch of its own.
func holdCopy(span ptrace.Span, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans) ptrace.Traces {
	td := ptrace.NewTraces()
	nrs := td.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(nrs.Resource())
	nrs.SetSchemaUrl(rs.SchemaUrl())
	nss := nrs.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(nss.Scope())
	nss.SetSchemaUrl(ss.SchemaUrl())
	span.CopyTo(nss.Spans().AppendEmpty())
	return td
}

// finishHeld meters a held call with the identity known now.
func (p *costProcessor) finishHeld(ctx context.Context, pc *pendingCall, n *batchCounts) {
	if pc.passThrough {
		return
	}
	n.bill.releasing = true // a rule error has no sender to go back to
	defer func() { n.bill.releasing = false }()
	if pc.wrapper {
		p.finishWrapper(ctx, pc, n)
		return
	}
	rs := pc.td.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	span := ss.Spans().At(0)
	if p.duplicateCall(span, genaiconv.ScopeOf(ss.Scope())) {
		// Its other span came while it was held (selftrace.go).
		return
	}
	id := pc.own
	p.memory.Resolve(span.TraceID(), span.ParentSpanID(), &id)
	p.finish(ctx, span, pc.call, &id, rs, ss, n)
}

// expireLoop lets held calls go when their wait has run out.
func (p *costProcessor) expireLoop(tick time.Duration) {
	defer close(p.stopped)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.releaseExpired(context.Background())
		}
	}
}

func (p *costProcessor) releaseExpired(ctx context.Context) {
	var n batchCounts
	now := p.now()
	p.mu.Lock()
	for pc := p.pending.popExpired(now); pc != nil; pc = p.pending.popExpired(now) {
		p.finishHeld(ctx, pc, &n)
		n.release(releaseExpired, 1)
		n.carry(pc)
	}
	p.mu.Unlock()
	_ = p.emit(ctx, n.carried, &n) // logged by emit: nobody to return it to
}

func (p *costProcessor) releaseAll(ctx context.Context) error {
	var n batchCounts
	p.mu.Lock()
	for pc := p.pending.popOldest(); pc != nil; pc = p.pending.popOldest() {
		p.finishHeld(ctx, pc, &n)
		n.release(releaseShutdown, 1)
		n.carry(pc)
	}
	p.mu.Unlock()
	return p.emit(ctx, n.carried, &n)
}

// emit sends calls let go outside of a batch to the next consumer, and then
// forgets them in the storage. Refused, they stay in the storage (if any) and
// come back at the next start.
func (p *costProcessor) emit(ctx context.Context, pcs []*pendingCall, n *batchCounts) error {
	p.record(ctx, n)
	if len(pcs) == 0 {
		return nil
	}
	td := ptrace.NewTraces()
	gather(pcs, td)
	if err := p.next.ConsumeTraces(ctx, td); err != nil {
		p.logger.Error("Failed to pass on held LLM calls", zap.Int("spans", td.SpanCount()), zap.Error(err))
		return err
	}
	p.forget(ctx, pcs)
	return nil
}

// ownIdentity reads the identity values on one span's attributes.
// It runs for every span of every batch (any span may be an ancestor), so the
// span is scanned for SDK metadata once, not once per key.
func (p *costProcessor) ownIdentity(attrs pcommon.Map) ancestry.Identity {
	var id ancestry.Identity
	l := genaiconv.NewIdentityLookup(attrs)
	for f, keys := range p.keys {
		id[f] = lookup(keys, l)
	}
	return id
}

// callIdentity is an LLM call's own identity: the values on its span, and
// the SDK's own name for the feature (the AI SDK's functionId, a Traceloop
// workflow) after the configured feature keys on the span. Holding, letting
// go and restoring a call all start from it, so a held call resolves exactly
// as it would have had its ancestors come first.
func (p *costProcessor) callIdentity(attrs pcommon.Map, call genaiconv.Call) ancestry.Identity {
	id := p.ownIdentity(attrs)
	if id[idFeature] == "" {
		id[idFeature] = call.Feature
	}
	return id
}

// lookup returns the first non-empty value of keys; a key is also found under
// the metadata prefixes of known SDKs (see genaiconv.LookupIdentity).
func lookup(keys []string, l genaiconv.IdentityLookup) string {
	for _, k := range keys {
		if s, ok := l.Lookup(k); ok && s != "" {
			return s
		}
	}
	return ""
}

// finish prices a call and writes the meter's decisions onto its span. The
// identity found on the span and its ancestors comes first; the resource fills
// what is still missing. rs and ss are the span's resource and scope.
func (p *costProcessor) finish(ctx context.Context, span ptrace.Span, call genaiconv.Call, id *ancestry.Identity, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, n *batchCounts) {
	attrs := span.Attributes()
	p.noteMetered(span, genaiconv.ScopeOf(ss.Scope()))
	res := genaiconv.NewIdentityLookup(rs.Resource().Attributes())
	for f, keys := range p.keys {
		if id[f] == "" {
			id[f] = lookup(keys, res)
		}
	}
	if id[idTenant] == "" {
		id[idTenant] = usage.Unattributed
		n.unattributed++
	}
	if reason := p.checkCall(span, &call); reason != "" {
		p.finishInvalid(span, &call, id, reason, n)
		return
	}

	// Read before the meter's attributes are written: pricing and the revenue
	// step both use it.
	tier := p.catalog.tierOf(attrs)
	status, detail := usage.StatusNoUsage, noUsageDetail(&call)
	var priced pricing.Result
	if call.Usage.Reported {
		q := pricing.Query{
			Provider:      call.Provider,
			ResponseModel: call.ResponseModel,
			RequestModel:  call.RequestModel,
			At:            callTime(span),
			Tier:          tier,
		}
		setUsage(&q.Usage, call.Usage)
		p.catalog.Price(&q, &priced)
		if priced.Status == pricing.Priced {
			status, detail = usage.StatusPriced, ""
		} else {
			status, detail = usage.StatusUnpriced, priced.Detail
		}
	}
	// The reported cost is compared with ours, and billed instead of it only
	// for a provider the configuration trusts; the record says which.
	var reported apd.Decimal
	dec := p.reconciler.reconcile(&call, &priced, &reported)
	costSource := ""
	switch {
	case dec.reported:
		priced.Cost.Set(&reported)
		if status != usage.StatusPriced {
			status, detail = usage.StatusPriced, ""
		}
		costSource = usage.CostSourceReported
	case status == usage.StatusPriced:
		costSource = usage.CostSourceCatalog
	}
	partial := call.Completion == genaiconv.CompletionStopped && status == usage.StatusPriced

	// Up to ~34 genaimeter.* attributes follow (here, in decideBillable and
	// in applyRevenue): grow the span's attribute slice once instead of
	// doubling it several times per call.
	attrs.EnsureCapacity(attrs.Len() + maxMeterAttrs)
	putWho(attrs, id, &call)
	attrs.PutInt(usage.AttrInputTokens, call.Usage.Input)
	attrs.PutInt(usage.AttrOutputTokens, call.Usage.Output)
	attrs.PutInt(usage.AttrCacheReadTokens, call.Usage.CacheRead)
	attrs.PutInt(usage.AttrCacheWriteTokens, call.Usage.CacheWrite)
	attrs.PutInt(usage.AttrReasoningTokens, call.Usage.Reasoning)
	// The audio and 1h parts are written when not 0 (the record reads an
	// absent one as 0): each attribute is an allocation, and most calls have
	// neither.
	putOrRemoveInt(attrs, usage.AttrInputAudioTokens, call.Usage.InputAudio)
	putOrRemoveInt(attrs, usage.AttrOutputAudioTokens, call.Usage.OutputAudio)
	putOrRemoveInt(attrs, usage.AttrCacheWrite1hTokens, call.Usage.CacheWrite1h)
	putNonEmpty(attrs, usage.AttrTokenConvention, call.TokenConvention)
	if call.TokenConvention == genaiconv.ConvInclusiveUnverified {
		// An emitter nobody verified: noticed before an invoice is.
		p.telemetry.ProcessorGenaiCostCallsInclusiveUnverified.Add(ctx, 1, metric.WithAttributes(attribute.String("provider", call.Provider)))
	}
	putOrRemove(attrs, usage.AttrCompletion, call.Completion)
	putNonEmpty(attrs, usage.AttrReportedCostUSD, call.ReportedCost)
	attrs.PutStr(usage.AttrCostReconciliation, dec.status)
	if dec.status == usage.ReconcileDiffers {
		n.costDiffers++
	}
	attrs.PutStr(usage.AttrPricingStatus, status)
	putOrRemove(attrs, usage.AttrCostSource, costSource)
	switch status {
	case usage.StatusPriced:
		n.priced++
		putOrRemove(attrs, usage.AttrCatalogProvider, priced.ProviderID)
		putOrRemove(attrs, usage.AttrCatalogModel, priced.ModelID)
		attrs.PutStr(usage.AttrCostUSD, money.Format(&priced.Cost))
	case usage.StatusUnpriced:
		n.unpriced++
		attrs.PutStr(usage.AttrPricingDetail, detail)
		model := call.ResponseModel
		if model == "" {
			model = call.RequestModel
		}
		p.telemetry.ProcessorGenaiCostCallsUnpriced.Add(ctx, 1, metric.WithAttributes(
			attribute.String("provider", call.Provider), attribute.String("model", model)))
	default:
		n.noUsage++
		attrs.PutStr(usage.AttrPricingDetail, detail)
	}
	// The plan, then billable or not with a reason: the call and its cost stay.
	plan := p.decideBillable(ctx, rs, ss, span, id[idTenant], partial, &n.bill)
	var notes []string
	switch {
	case partial:
		notes = append(notes, partialDetail(&call))
	case status == usage.StatusPriced && call.Completion == genaiconv.CompletionUnknown && call.CompletionDetail != "":
		// Priced, but nobody can tell whether the call ran to its end.
		notes = append(notes, call.CompletionDetail)
	}
	if dec.note != "" {
		notes = append(notes, dec.note)
	}
	p.applyRevenue(attrs, id[idTenant], plan, tier, &priced, status, notes, call)
}

// noUsageDetail says why a call has no usage, for finance: a stopped call,
// or an instrumentation that never reports usage on such calls.
func noUsageDetail(call *genaiconv.Call) string {
	d := "the span reports no token usage"
	if call.Completion == genaiconv.CompletionStopped {
		d += "; the call was stopped before its end"
	}
	if call.CompletionDetail != "" {
		d += "; " + call.CompletionDetail
	}
	return d
}

// partialDetail is the pricing detail of a stopped call priced from the
// usage it reported before it stopped.
func partialDetail(call *genaiconv.Call) string {
	d := "partial: the call was stopped before its end; priced from the usage reported until then (a lower bound)"
	if call.CompletionDetail != "" {
		d += "; " + call.CompletionDetail
	}
	return d
}

// maxMeterAttrs bounds how many genaimeter.* attributes finish and the
// billing and revenue steps write on one span.
const maxMeterAttrs = 34

// setUsage converts semconv token counts into the catalog's usage keys. Both
// count input as the total including cache reads and writes, and output as
// including reasoning (and audio: input_audio_tokens is a part of
// input_tokens, cache_write_1h_tokens of cache_write_tokens).
//
// The conversion lives in package pricing (Usage.SetCall) so that
// genaimeter reprice prices a stored record exactly as this span was priced.
func setUsage(u *pricing.Usage, c genaiconv.Usage) {
	u.SetCall(pricing.CallUsage{Input: c.Input, Output: c.Output, CacheRead: c.CacheRead, CacheWrite: c.CacheWrite,
		Reasoning: c.Reasoning, InputAudio: c.InputAudio, OutputAudio: c.OutputAudio, CacheWrite1h: c.CacheWrite1h})
}

// callTime is when the call happened for pricing (see usage.CallTime).
func callTime(span ptrace.Span) time.Time { return usage.CallTime(span).AsTime() }

// putOrRemoveInt writes a count that is not 0; a span metered again (a
// replay) loses a stale one.
func putOrRemoveInt(m pcommon.Map, k string, v int64) {
	if v == 0 {
		m.Remove(k)
		return
	}
	m.PutInt(k, v)
}

// putWho writes who made a call and with which model: the part of the
// genaimeter.* attributes that a priced and an invalid call share.
func putWho(attrs pcommon.Map, id *ancestry.Identity, call *genaiconv.Call) {
	attrs.PutStr(usage.AttrTenantID, id[idTenant])
	putNonEmpty(attrs, usage.AttrUserID, id[idUser])
	putNonEmpty(attrs, usage.AttrSessionID, id[idSession])
	putNonEmpty(attrs, usage.AttrFeature, id[idFeature])
	putNonEmpty(attrs, usage.AttrProvider, call.Provider)
	putNonEmpty(attrs, usage.AttrOperation, call.Operation)
	putNonEmpty(attrs, usage.AttrRequestModel, call.RequestModel)
	putNonEmpty(attrs, usage.AttrResponseModel, call.ResponseModel)
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}
