package genaicostprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

// streamWrapper is a Vercel AI SDK ai.streamText span, as a stopped stream
// leaves it: model and provider, no usage.
func streamWrapper(trace, span, parent byte) testSpan {
	return testSpan{trace, span, parent, map[string]any{
		"ai.operationId": "ai.streamText", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o-mini",
		"ai.telemetry.functionId": "chat-reply",
	}}
}

// doStream is its model-call child.
func doStream(trace, span, parent byte) testSpan {
	return testSpan{trace, span, parent, map[string]any{
		"ai.operationId": "ai.streamText.doStream", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o-mini",
		"ai.usage.inputTokens": 1000, "ai.usage.outputTokens": 200,
	}}
}

// named names each span after its ai.operationId, as the AI SDK does.
func named(td ptrace.Traces) ptrace.Traces {
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		if v, ok := spans.At(i).Attributes().Get("ai.operationId"); ok {
			spans.At(i).SetName(v.Str())
		}
	}
	return td
}

// allSpans maps every span the sink saw to its attributes, and counts how
// many times each span id was seen.
func allSpans(sink *consumertest.TracesSink) (map[pcommon.SpanID]map[string]any, map[pcommon.SpanID]int) {
	out, seen := map[pcommon.SpanID]map[string]any{}, map[pcommon.SpanID]int{}
	for _, td := range sink.AllTraces() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					out[spans.At(k).SpanID()] = spans.At(k).Attributes().AsRaw()
					seen[spans.At(k).SpanID()]++
				}
			}
		}
	}
	return out, seen
}

// TestWrapperWithItsCallIsNotMetered: the wrapper repeats its child's usage;
// whether the child comes first, after it in the same batch, or in a later
// batch, only the child is metered and the wrapper goes on unmetered, once.
func TestWrapperWithItsCallIsNotMetered(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, tp, sink, _ := newHoldingProcessor(t, tel, nil)
	ctx := context.Background()
	root := func(trace byte) testSpan { return testSpan{trace, 1, 0, map[string]any{"tenant.id": "acme"}} }

	// Same batch, wrapper first.
	require.NoError(t, tp.ConsumeTraces(ctx, batch(root(1), streamWrapper(1, 2, 1), doStream(1, 3, 2))))
	// Child first, wrapper in the next batch.
	require.NoError(t, tp.ConsumeTraces(ctx, batch(root(2), doStream(2, 3, 2))))
	require.NoError(t, tp.ConsumeTraces(ctx, batch(streamWrapper(2, 2, 1))))
	// Wrapper first, child in a later batch: the wrapper is held, then let go.
	require.NoError(t, tp.ConsumeTraces(ctx, batch(root(3), streamWrapper(3, 2, 1))))
	assert.Equal(t, 1, p.held.Len(), "the wrapper waits for its call")
	require.NoError(t, tp.ConsumeTraces(ctx, batch(doStream(3, 3, 2))))
	assert.Equal(t, 0, p.held.Len())

	require.NoError(t, tp.Shutdown(ctx))
	var wrappers, calls int
	for _, td := range sink.AllTraces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			spans := td.ResourceSpans().At(i).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				s := spans.At(k)
				_, metered := s.Attributes().Get(usage.AttrPricingStatus)
				switch s.SpanID() {
				case pcommon.SpanID{2}:
					wrappers++
					assert.False(t, metered, "trace %v: the wrapper is not metered", s.TraceID())
				case pcommon.SpanID{3}:
					calls++
					assert.True(t, metered)
				}
			}
		}
	}
	assert.Equal(t, [2]int{3, 3}, [2]int{wrappers, calls}, "every span goes on exactly once")
	// Trace 2's call waited for its parent (the wrapper), trace 3's wrapper
	// for its call.
	metadatatest.AssertEqualProcessorGenaiCostCallsReleased(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("release_reason", "ancestors_arrived")), Value: 1},
		{Attributes: attribute.NewSet(attribute.String("release_reason", "call_arrived")), Value: 1},
	}, metricdatatest.IgnoreTimestamp())
}

// TestStoppedStreamWrapperBecomesARecord: a stopped ai.streamText leaves only
// its wrapper; when the wait runs out it becomes a flagged no_usage record
// (completion stopped, the reason said, the tenant from its parent), never
// nothing.
func TestStoppedStreamWrapperBecomesARecord(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, tp, sink, clock := newHoldingProcessor(t, tel, nil)
	ctx := context.Background()
	require.NoError(t, tp.ConsumeTraces(ctx, named(batch(testSpan{1, 1, 0, map[string]any{"tenant.id": "acme"}}, streamWrapper(1, 2, 1)))))
	assert.Equal(t, 1, p.held.Len())
	clock.advance(59 * time.Minute)
	p.releaseExpired(ctx)
	assert.Equal(t, 1, p.held.Len(), "still within the wait")
	clock.advance(time.Minute)
	p.releaseExpired(ctx)
	assert.Equal(t, 0, p.held.Len())
	require.NoError(t, tp.Shutdown(ctx))

	got, seen := allSpans(sink)
	assert.Equal(t, 1, seen[pcommon.SpanID{2}])
	a := got[pcommon.SpanID{2}]
	assert.Equal(t, usage.StatusNoUsage, a[usage.AttrPricingStatus])
	assert.Equal(t, usage.CompletionStopped, a[usage.AttrCompletion])
	assert.Equal(t, "the span reports no token usage; the call was stopped before its end; no model-call span arrived under this "+
		"ai.streamText wrapper span (the Vercel AI SDK never ends ai.streamText.doStream when the stream is stopped)", a[usage.AttrPricingDetail])
	assert.Equal(t, "acme", a[usage.AttrTenantID])
	assert.Equal(t, "chat-reply", a[usage.AttrFeature])
	assert.Equal(t, "gpt-4o-mini", a[usage.AttrRequestModel])
	assert.Equal(t, "openai", a[usage.AttrProvider])
	assert.NotContains(t, a, usage.AttrCostUSD)
	metadatatest.AssertEqualProcessorGenaiCostCalls(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("pricing_status", "no_usage")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp())
}

// TestWrapperWithoutWaitIsDecidedAfterTheBatch: with wait 0 nothing is held;
// a wrapper is decided once the whole batch has been walked, so the order of
// spans in a batch does not matter, and a lone generateText wrapper carrying
// usage is priced from it (completion unknown: its call ran, but nobody can
// tell whether to its end).
func TestWrapperWithoutWaitIsDecidedAfterTheBatch(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = 0
	p, sink := newTestProcessor(t, cfg, nil)
	lone := testSpan{2, 2, 0, map[string]any{
		"ai.operationId": "ai.generateText", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o",
		"ai.usage.inputTokens": 4100, "ai.usage.outputTokens": 730,
	}}
	require.NoError(t, p.ConsumeTraces(context.Background(), named(batch(streamWrapper(1, 2, 0), doStream(1, 3, 2), lone))))
	got, seen := allSpans(sink)
	assert.Equal(t, map[pcommon.SpanID]int{{2}: 2, {3}: 1}, seen, "trace 1's wrapper and the lone wrapper share span id 2")
	assert.Equal(t, usage.StatusPriced, got[pcommon.SpanID{3}][usage.AttrPricingStatus])
	// The lone wrapper was metered from the usage it carries:
	// gpt-4o 4100 × 2.5 / 1e6 + 730 × 10 / 1e6 = 0.01025 + 0.0073 = 0.01755.
	var lonePriced map[string]any
	for _, td := range sink.AllTraces() {
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			spans := td.ResourceSpans().At(i).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				if spans.At(k).TraceID() == (pcommon.TraceID{2}) {
					lonePriced = spans.At(k).Attributes().AsRaw()
				} else if spans.At(k).SpanID() == (pcommon.SpanID{2}) {
					assert.NotContains(t, spans.At(k).Attributes().AsRaw(), usage.AttrPricingStatus, "trace 1's wrapper has its call")
				}
			}
		}
	}
	require.NotNil(t, lonePriced)
	assert.Equal(t, "0.01755", lonePriced[usage.AttrCostUSD])
	assert.Equal(t, usage.CompletionUnknown, lonePriced[usage.AttrCompletion])
	assert.Equal(t, "no model-call span arrived under this ai.generateText wrapper span: metered from the usage the wrapper repeats",
		lonePriced[usage.AttrPricingDetail])
}

// TestHeldWrapperSurvivesACrash: a wrapper held in storage when the collector
// dies is held again by the next process and becomes its record there, once,
// with the same span (so the same event id).
func TestHeldWrapperSurvivesACrash(t *testing.T) {
	ctx := context.Background()
	tel1 := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel1.Shutdown(context.Background())) })
	st := newMemStorage()
	_, tp1, sink1, _ := newStoringProcessor(t, tel1, st, time.Hour)
	require.NoError(t, tp1.ConsumeTraces(ctx, batch(testSpan{1, 1, 0, map[string]any{"tenant.id": "acme"}}, streamWrapper(1, 2, 1))))
	assert.Equal(t, []pcommon.SpanID{{2}}, st.storedSpans(t, "held/1"))
	disk := st.snapshot()
	require.NoError(t, tp1.Shutdown(ctx))
	_, seen1 := allSpans(sink1)
	assert.Equal(t, 1, seen1[pcommon.SpanID{1}], "only the parent went on before the crash")

	tel2 := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel2.Shutdown(context.Background())) })
	p2, tp2, sink2, _ := newStoringProcessor(t, tel2, disk, time.Hour)
	assert.Equal(t, 1, p2.held.Len())
	require.NoError(t, tp2.Shutdown(ctx)) // shutdown lets it go: its record
	got, seen := allSpans(sink2)
	assert.Equal(t, map[pcommon.SpanID]int{{2}: 1}, seen)
	assert.Equal(t, usage.StatusNoUsage, got[pcommon.SpanID{2}][usage.AttrPricingStatus])
	assert.Equal(t, usage.CompletionStopped, got[pcommon.SpanID{2}][usage.AttrCompletion])
	// The parent went on in the first process: the new one has not seen it,
	// so the record is unattributed (counted), as a held call whose ancestors
	// never come again would be.
	assert.Equal(t, usage.Unattributed, got[pcommon.SpanID{2}][usage.AttrTenantID])
	assert.Equal(t, []string{"held/index"}, disk.keys(), "forgotten once passed on")
}

// TestStoppedCallIsPartial: a call its emitter marks stopped is priced from
// the usage it reported, flagged partial (a lower bound) with its own
// billable reason when no rule decides; a failed call stays the failed_call
// rule's; a stopped call without usage is a no_usage record that says why.
func TestStoppedCallIsPartial(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, tp, _, _ := newHoldingProcessor(t, tel, nil)
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	meter := func(call genaiconv.Call, failed bool) map[string]any {
		td := batch(llmCall(1, 2, 0))
		rs := td.ResourceSpans().At(0)
		ss := rs.ScopeSpans().At(0)
		span := ss.Spans().At(0)
		if failed {
			span.Status().SetCode(ptrace.StatusCodeError)
		}
		id := ancestry.Identity{"acme"}
		var n tally
		p.mu.Lock()
		p.meter(context.Background(), span, &call, &id, rs, ss, &n)
		p.mu.Unlock()
		return span.Attributes().AsRaw()
	}
	stopped := genaiconv.Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o",
		Usage:      genaiconv.Usage{Input: 4100, Output: 730, Reported: true},
		Completion: genaiconv.CompletionStopped, CompletionDetail: "finish_reasons empty on a streamed call"}

	a := meter(stopped, false)
	// gpt-4o: 4100 × 2.5 / 1e6 + 730 × 10 / 1e6 = 0.01025 + 0.0073 = 0.01755 (what was reported: a lower bound)
	assert.Equal(t, "0.01755", a[usage.AttrCostUSD])
	assert.Equal(t, usage.CompletionStopped, a[usage.AttrCompletion])
	assert.Equal(t, true, a[usage.AttrBillable])
	assert.Equal(t, usage.ReasonPartial, a[usage.AttrBillableReason])
	assert.Equal(t, "partial: the call was stopped before its end; priced from the usage reported until then (a lower bound); "+
		"finish_reasons empty on a streamed call", a[usage.AttrPricingDetail])

	a = meter(stopped, true)
	assert.Equal(t, false, a[usage.AttrBillable])
	assert.Equal(t, "failed_call", a[usage.AttrBillableReason], "a rule that matches decides, partial or not")

	noUsage := stopped
	noUsage.Usage = genaiconv.Usage{}
	a = meter(noUsage, false)
	assert.Equal(t, usage.StatusNoUsage, a[usage.AttrPricingStatus])
	assert.NotContains(t, a, usage.AttrCostUSD)
	assert.Equal(t, "default", a[usage.AttrBillableReason])
	assert.Equal(t, "the span reports no token usage; the call was stopped before its end; finish_reasons empty on a streamed call",
		a[usage.AttrPricingDetail])

	// An instrumentation that never reports usage on streamed calls: the
	// record tells finance it is not a stopped stream.
	never := genaiconv.Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", Completion: genaiconv.CompletionComplete,
		Streamed: true, CompletionDetail: "this instrumentation never reports usage on streamed calls"}
	a = meter(never, false)
	assert.Equal(t, usage.CompletionComplete, a[usage.AttrCompletion])
	assert.Equal(t, "the span reports no token usage; this instrumentation never reports usage on streamed calls", a[usage.AttrPricingDetail])
}
