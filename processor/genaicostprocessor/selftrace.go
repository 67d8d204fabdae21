package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
)

// A provider SDK that traces itself (@anthropic-ai/sdk 1.x, scope
// com.anthropic.sdk.typescript, whenever a tracer provider is registered)
// writes its own inference span for every call; an instrumentation of that
// SDK (OpenLIT, OpenLLMetry, OpenInference) writes another one, the SDK's
// span being its child. Both carry the call's usage: metered both, the call
// would be billed twice. Exactly one of them is metered:
//
//   - the SDK's own span, whenever it is known first or together: it carries
//     the richest usage (inclusive input, the 5m/1h cache-write split that
//     prices 1h writes at their rate, the provider's final output count
//     where OpenLIT adds message_start's 1 to a stream). Its parent is
//     remembered (selfTraced) in remember(), before the walk, so the
//     instrumentation span goes on unmetered whatever the order of the two
//     in a batch, and when it comes in a later batch;
//   - the instrumentation span, when it was metered before the SDK span came
//     (only a reordering between the SDK and the collector does that: the
//     SDK ends its span before the instrumentation ends its own): then the
//     SDK span goes on unmetered (meteredCalls). A record is never taken
//     back, so the one already made stands.
//
// A lone span of either kind (SDK 0.x under an instrumentation, or the SDK
// traced without one) is metered as any call, with no added wait: nothing
// is held for this. Both indexes are bounded like the ancestry memory and
// live in memory: after a restart, a pair split across it is not recognised
// (the same limit as the wrappers' callIndex).

// selfTracedCall reports whether the span is a provider SDK's own span.
func selfTracedCall(scope genaiconv.Scope) bool {
	return genaiconv.SelfTracingSDK(scope)
}

// noteSelfTraced marks the parents of the SDK self-traced spans of a scope.
func (p *costProcessor) noteSelfTraced(spans ptrace.SpanSlice) {
	for k := 0; k < spans.Len(); k++ {
		span := spans.At(k)
		if !span.ParentSpanID().IsEmpty() {
			p.selfTraced.add(ancestry.Key{Trace: span.TraceID(), Span: span.ParentSpanID()})
		}
	}
}

// duplicateCall reports whether an inference span is the second span of a
// call already (or about to be) metered through its other span.
func (p *costProcessor) duplicateCall(span ptrace.Span, scope genaiconv.Scope) bool {
	if selfTracedCall(scope) {
		return p.meteredCalls.has(ancestry.Key{Trace: span.TraceID(), Span: span.ParentSpanID()})
	}
	return p.selfTraced.has(ancestry.Key{Trace: span.TraceID(), Span: span.SpanID()})
}

// noteMetered remembers an instrumentation span that was metered, so that
// an SDK span arriving under it later is not metered again.
func (p *costProcessor) noteMetered(span ptrace.Span, scope genaiconv.Scope) {
	if !selfTracedCall(scope) {
		p.meteredCalls.add(ancestry.Key{Trace: span.TraceID(), Span: span.SpanID()})
	}
}
