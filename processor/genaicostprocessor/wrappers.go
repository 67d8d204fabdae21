package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"
)

// An SDK wrapper span (the Vercel AI SDK's ai.streamText) repeats the usage
// of its model-call child (ai.streamText.doStream), which is the call that is
// metered. But when a stream is stopped the SDK never ends the child: only
// the wrapper arrives, and the call would leave no record at all. So a
// wrapper waits for its child up to attribution.ancestors.wait: if an LLM
// call of the same trace below it arrives (before or after it), the wrapper
// goes on unmetered, as any aggregate; if none does, the wrapper itself
// becomes a flagged record — no_usage (or priced from whatever usage it
// carries), completion stopped or unknown, the reason in its detail. Its
// event id is its own trace and span: a replay or a restart after a crash
// (it is held in attribution.ancestors.storage like any held call) maps onto
// the same record.

// maxCallDepth bounds how many ancestors of an LLM call are marked as having
// a call below them (a wrapper is the direct parent of its call in every SDK
// known; a few levels leave room for an intermediate span).
const maxCallDepth = 8

// callIndex remembers the spans that have an LLM call below them, for the
// most recent calls: bounded like the ancestry memory, oldest forgotten first.
type callIndex struct{ keys *ancestry.KeyRing }

func newCallIndex(capacity int) *callIndex {
	return &callIndex{keys: ancestry.NewKeyRing(capacity)}
}

func (c *callIndex) add(k ancestry.Key) { c.keys.Add(k) }

func (c *callIndex) has(k ancestry.Key) bool {
	_, ok := c.keys.Find(k)
	return ok
}

// noteCall marks the parent of an LLM call span, and its ancestors as far as
// they are remembered, as having a call below them.
func (p *costProcessor) noteCall(span ptrace.Span) {
	trace, parent := span.TraceID(), span.ParentSpanID()
	for d := 0; d < maxCallDepth && !parent.IsEmpty(); d++ {
		k := ancestry.Key{Trace: trace, Span: parent}
		p.calls.add(k)
		next, ok := p.memory.Parent(k)
		if !ok {
			return
		}
		parent = next
	}
}

// takeWrapper takes a wrapper span out of the batch (a copy, with its
// resource and scope): decideWrappers puts it back, holds it or meters it
// once every call of the batch has been seen, whatever the order of spans.
func (p *costProcessor) takeWrapper(span ptrace.Span, call genaiconv.Call, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, b *batchWalk) {
	c := hold.NewCall(hold.Copy(span, rs, ss), heldCall{call: call, own: p.callIdentity(span.Attributes(), call), wrapper: true})
	b.wrappers = append(b.wrappers, c)
}

// decideWrappers decides the wrappers of a batch, after its walk: a wrapper
// whose call was seen goes on unmetered; the others wait for it (or, without
// a wait, are metered now).
func (p *costProcessor) decideWrappers(ctx context.Context, b *batchWalk) {
	wait := p.cfg.Attribution.Ancestors.Wait
	for _, c := range b.wrappers {
		span := c.Span()
		switch {
		case p.calls.has(ancestry.Key{Trace: span.TraceID(), Span: span.SpanID()}):
			c.Meta.passThrough = true
			b.goOn = append(b.goOn, c)
		case wait > 0:
			p.hold(ctx, c, b)
		default:
			p.meterWrapper(ctx, c, &b.tally)
			b.goOn = append(b.goOn, c)
		}
	}
}

// meterWrapper meters a wrapper whose model-call child never arrived.
func (p *costProcessor) meterWrapper(ctx context.Context, c *heldSpan, t *tally) {
	rs := c.Traces.ResourceSpans().At(0)
	ss := rs.ScopeSpans().At(0)
	span := ss.Spans().At(0)
	call := c.Meta.call
	if call.Completion == "" {
		switch {
		case span.Status().Code() == ptrace.StatusCodeError:
			call.Completion = genaiconv.CompletionError
		case call.Streamed && !call.Usage.Reported:
			call.Completion = genaiconv.CompletionStopped
		default:
			// It carries usage (its call ran, at least that far) or it does
			// not stream: nobody can tell whether it ran to its end.
			call.Completion = genaiconv.CompletionUnknown
		}
	}
	detail := "no model-call span arrived under this " + span.Name() + " wrapper span"
	if call.Streamed && !call.Usage.Reported {
		detail += " (the Vercel AI SDK never ends ai.streamText.doStream when the stream is stopped)"
	}
	if call.Usage.Reported {
		detail += ": metered from the usage the wrapper repeats"
	}
	if call.CompletionDetail != "" {
		detail = call.CompletionDetail + "; " + detail
	}
	call.CompletionDetail = detail
	id := c.Meta.own
	p.memory.Resolve(span.TraceID(), span.ParentSpanID(), &id)
	p.meter(ctx, span, &call, &id, rs, ss, t)
}
