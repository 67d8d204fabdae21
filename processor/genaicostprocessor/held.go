package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"slices"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"
)

// Why a held call was let go (the release_reason attribute), besides the
// reasons of the hold itself (hold.ReasonExpired, ReasonCapacity,
// ReasonShutdown).
const (
	releaseArrived = "ancestors_arrived"
	// releaseCallArrived: a held wrapper's model-call child arrived; the
	// wrapper goes on unmetered.
	releaseCallArrived = "call_arrived"
)

// heldCall is what the processor keeps with a held span.
type heldCall struct {
	call genaiconv.Call
	// own is the identity found on the span itself (see callIdentity): the
	// held copy does not change, so it is read once, when the call is held.
	own ancestry.Identity
	// passThrough marks a call that goes on unmetered: read back from
	// storage and no longer an LLM call under the current configuration, or
	// a wrapper whose model-call child arrived.
	passThrough bool
	// wrapper marks an SDK wrapper span (genaiconv.Wrapper) waiting for its
	// model-call child rather than for its ancestors: it is metered only if
	// the child never arrives.
	wrapper bool
}

type heldSpan = hold.Call[heldCall]

// batchWalk is the state of one walk over a batch: its tally and the held calls
// it moves.
type batchWalk struct {
	tally
	// goOn are held calls let go during the walk; they join the batch after
	// the walk, so that they are not metered twice.
	goOn []*heldSpan
	// holds are the calls the batch held (capacity may let one go again within
	// the same walk).
	holds []*heldSpan
	// wrappers are the wrapper spans of the batch, taken out during the walk
	// and decided after it (decideWrappers).
	wrappers []*heldSpan
}

// letGo meters a call let go during the walk and sends it on with the batch.
func (p *costProcessor) letGo(ctx context.Context, c *heldSpan, reason string, b *batchWalk) {
	p.meterHeld(ctx, c, &b.tally)
	b.release(reason, 1)
	b.goOn = append(b.goOn, c)
}

// hold holds c for attribution.ancestors.wait; when the hold is full, the
// oldest goes on now, with what is known.
func (p *costProcessor) hold(ctx context.Context, c *heldSpan, b *batchWalk) {
	if old := p.held.Hold(c); old != nil {
		p.letGo(ctx, old, hold.ReasonCapacity, b)
	}
	b.holds = append(b.holds, c)
	b.held++
}

// takeResolved lets go, with the batch, the calls held earlier whose ancestors
// came with it, and the wrappers held earlier whose call came with it
// (unmetered: the child is the call).
func (p *costProcessor) takeResolved(ctx context.Context, touched []pcommon.TraceID, b *batchWalk) {
	for _, trace := range touched {
		for _, c := range p.held.Held(trace) {
			span := c.Span()
			reason := releaseArrived
			if c.Meta.wrapper {
				if !p.calls.has(ancestry.Key{Trace: trace, Span: span.SpanID()}) {
					continue
				}
				c.Meta.passThrough, reason = true, releaseCallArrived
			} else if id := c.Meta.own; !p.memory.Resolve(trace, span.ParentSpanID(), &id) {
				continue
			}
			p.held.Take(c)
			p.letGo(ctx, c, reason, b)
		}
	}
}

// unhold takes back the calls of a refused batch: the calls it held, and its
// own wrappers, come back with it.
func (b *batchWalk) unhold(h *hold.Holder[heldCall]) {
	if len(b.holds) > 0 {
		b.held -= int64(len(b.holds))
		// Held and let go again by capacity in the same walk.
		if again := h.Unhold(b.holds); again > 0 {
			if b.released[hold.ReasonCapacity] -= int64(again); b.released[hold.ReasonCapacity] == 0 {
				delete(b.released, hold.ReasonCapacity)
			}
		}
	}
	if len(b.holds) > 0 || len(b.wrappers) > 0 {
		b.goOn = slices.DeleteFunc(b.goOn, func(c *heldSpan) bool {
			return slices.Contains(b.holds, c) || slices.Contains(b.wrappers, c)
		})
	}
}

// meterReleased meters the calls the hold lets go by itself (wait expired,
// shutdown), under p.mu, before it sends them on.
func (p *costProcessor) meterReleased(ctx context.Context, calls []*heldSpan, reason string) {
	var t tally
	for _, c := range calls {
		p.meterHeld(ctx, c, &t)
	}
	t.release(reason, int64(len(calls)))
	p.count(ctx, &t)
}

// meterHeld meters a call let go with the identity known now.
func (p *costProcessor) meterHeld(ctx context.Context, c *heldSpan, t *tally) {
	if c.Meta.passThrough {
		return
	}
	t.bill.releasing = true // a rule error has no sender to go back to
	defer func() { t.bill.releasing = false }()
	if c.Meta.wrapper {
		p.meterWrapper(ctx, c, t)
		return
	}
	rs := c.Traces.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	span := ss.Spans().At(0)
	if p.duplicateCall(span, genaiconv.ScopeOf(ss.Scope())) {
		// Its other span came while it was held (selftrace.go).
		return
	}
	id := c.Meta.own
	p.memory.Resolve(span.TraceID(), span.ParentSpanID(), &id)
	call := c.Meta.call
	p.meter(ctx, span, &call, &id, rs, ss, t)
}

// releaseExpired lets go the held calls whose wait has run out.
func (p *costProcessor) releaseExpired(ctx context.Context) { p.held.ReleaseExpired(ctx) }

// restore opens the storage of held calls and holds again, with a fresh wait,
// every call it kept: calls held when the collector stopped or crashed. They
// were never metered, so they are metered once, when let go.
func (p *costProcessor) restore(ctx context.Context, host component.Host, id component.ID) error {
	store, err := hold.Extension(ctx, host, id, p.id)
	if err != nil {
		return err
	}
	n, err := p.held.Restore(ctx, store, p.readRestored)
	if err != nil {
		return err
	}
	if n > 0 {
		p.telemetry.ProcessorGenaiCostCallsRestored.Add(ctx, int64(n))
		p.telemetry.ProcessorGenaiCostPendingCalls.Add(ctx, int64(n))
		p.logger.Info("Holding again the LLM calls held before the last stop", zap.Int("calls", n), zap.Stringer("storage", id))
	}
	return nil
}

// readRestored reads a call read back from storage as it was read when held.
func (p *costProcessor) readRestored(c *heldSpan) {
	ss := c.Traces.ResourceSpans().At(0).ScopeSpans().At(0)
	span := ss.Spans().At(0)
	scope := genaiconv.ScopeOf(ss.Scope())
	call, kind, _ := genaiconv.Extract(span, scope, p.conv)
	c.Meta = heldCall{call: call, own: p.callIdentity(span.Attributes(), call)}
	// Only a change of configuration (token_conventions) can make a stored
	// call not an LLM call; it then goes on as it came. A call that became
	// malformed is recorded as invalid (call.Invalid). A wrapper waits again
	// for its call.
	c.Meta.wrapper = kind == genaiconv.Wrapper
	c.Meta.passThrough = kind != genaiconv.Inference && !c.Meta.wrapper
	// A held SDK self-traced span marks its parent again, so that a held
	// instrumentation span of the same call is not metered as well.
	if genaiconv.SelfTracingSDK(scope) {
		p.noteSelfTraced(ss.Spans())
	}
}
