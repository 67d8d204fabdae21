package genaicostprocessor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

// fakeClock is a settable clock for the held-call deadlines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newHoldingProcessor builds the processor around a fake clock; the expiry
// ticker never fires during a test (the wait is long), the test drives it.
func newHoldingProcessor(t *testing.T, tel *componenttest.Telemetry, mutate func(*Config)) (*costProcessor, processor.Traces, *consumertest.TracesSink, *fakeClock) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = time.Hour
	if mutate != nil {
		mutate(cfg)
	}
	set := metadatatest.NewSettings(tel)
	sink := new(consumertest.TracesSink)
	p, err := newCostProcessor(set, cfg, sink)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	p.now = clock.now
	tp, err := processorhelper.NewTraces(context.Background(), set, cfg, sink, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown))
	require.NoError(t, err)
	require.NoError(t, tp.Start(context.Background(), componenttest.NewNopHost()))
	return p, tp, sink, clock
}

type testSpan struct {
	trace, span, parent byte
	attrs               map[string]any
}

func llmCall(trace, span, parent byte) testSpan {
	return testSpan{trace, span, parent, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": 4100, "gen_ai.usage.output_tokens": 730,
	}}
}

func batch(spans ...testSpan) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for _, ts := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{ts.trace})
		s.SetSpanID(pcommon.SpanID{ts.span})
		if ts.parent != 0 {
			s.SetParentSpanID(pcommon.SpanID{ts.parent})
		}
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)))
		_ = s.Attributes().FromRaw(ts.attrs)
	}
	return td
}

// meteredBySpan collects tenant/user/feature of every metered span the sink saw.
func meteredBySpan(sink *consumertest.TracesSink) map[pcommon.SpanID]map[string]any {
	out := map[pcommon.SpanID]map[string]any{}
	for _, td := range sink.AllTraces() {
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			sss := rss.At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					a := spans.At(k).Attributes().AsRaw()
					if _, ok := a[usage.AttrPricingStatus]; ok {
						out[spans.At(k).SpanID()] = map[string]any{
							"tenant": a[usage.AttrTenantID], "user": a[usage.AttrUserID], "feature": a[usage.AttrFeature],
						}
					}
				}
			}
		}
	}
	return out
}

// TestChildBeforeParentAcrossBatches: the LLM call is exported before the
// HTTP span that carries the tenant; it is held, then goes on with the
// parent's batch, attributed. Two traces interleave across three batches.
func TestChildBeforeParentAcrossBatches(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	_, tp, sink, _ := newHoldingProcessor(t, tel, nil)
	ctx := context.Background()

	// Trace 1: root 1 ← agent 2 ← call 3. Trace 2: root 1 ← call 4 (same root span id, other trace).
	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 3, 2), llmCall(2, 4, 1))))
	assert.Empty(t, meteredBySpan(sink), "both calls wait for their ancestors")

	require.NoError(t, tp.ConsumeTraces(ctx, batch(
		testSpan{2, 1, 0, map[string]any{"tenant.id": "tenant-two", "user.id": "u2"}},
		testSpan{1, 2, 1, map[string]any{"gen_ai.operation.name": "invoke_agent", "feature": "summarize"}},
	)))
	got := meteredBySpan(sink)
	require.Len(t, got, 1, "trace 2 is complete; trace 1 still misses its root")
	assert.Equal(t, map[string]any{"tenant": "tenant-two", "user": "u2", "feature": nil}, got[pcommon.SpanID{4}])

	require.NoError(t, tp.ConsumeTraces(ctx, batch(
		testSpan{1, 1, 0, map[string]any{"tenant.id": "tenant-one", "enduser.id": "u1", "feature": "root-feature"}},
	)))
	got = meteredBySpan(sink)
	require.Len(t, got, 2)
	// The nearest ancestor's feature wins over the root's.
	assert.Equal(t, map[string]any{"tenant": "tenant-one", "user": "u1", "feature": "summarize"}, got[pcommon.SpanID{3}])

	require.NoError(t, tp.Shutdown(ctx))
	metadatatest.AssertEqualProcessorGenaiCostCallsHeld(t, tel, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorGenaiCostCallsReleased(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("release_reason", "ancestors_arrived")), Value: 2,
	}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorGenaiCostPendingCalls(t, tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
}

// TestParentBeforeChild: the parent was seen in an earlier batch; the call is
// attributed at once, without holding.
func TestParentBeforeChild(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	_, tp, sink, _ := newHoldingProcessor(t, tel, nil)
	ctx := context.Background()
	require.NoError(t, tp.ConsumeTraces(ctx, batch(testSpan{1, 1, 0, map[string]any{"tenant_id": "early"}})))
	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 2, 1))))
	assert.Equal(t, "early", meteredBySpan(sink)[pcommon.SpanID{2}]["tenant"])
	require.NoError(t, tp.Shutdown(ctx))
}

// TestWaitRunsOut: the parent never comes; when the wait runs out the call
// goes on with the resource's tenant or "unattributed" — counted, not dropped.
func TestWaitRunsOut(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, tp, sink, clock := newHoldingProcessor(t, tel, nil)
	ctx := context.Background()
	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 2, 1))))
	clock.advance(59 * time.Minute)
	p.releaseExpired(ctx)
	assert.Empty(t, meteredBySpan(sink))
	clock.advance(time.Minute)
	p.releaseExpired(ctx)
	assert.Equal(t, "unattributed", meteredBySpan(sink)[pcommon.SpanID{2}]["tenant"])
	require.NoError(t, tp.Shutdown(ctx))
	metadatatest.AssertEqualProcessorGenaiCostCallsUnattributed(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorGenaiCostCallsReleased(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("release_reason", "wait_expired")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp())
}

// TestShutdownAndCapacityNeverDrop: held calls go on when the hold is full and
// at shutdown.
func TestShutdownAndCapacityNeverDrop(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	_, tp, sink, _ := newHoldingProcessor(t, tel, func(c *Config) { c.Attribution.Ancestors.MaxPendingSpans = 2 })
	ctx := context.Background()
	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 1, 9), llmCall(1, 2, 9), llmCall(1, 3, 9))))
	got := meteredBySpan(sink)
	require.Len(t, got, 1, "the oldest call left when the third came")
	assert.Contains(t, got, pcommon.SpanID{1})
	require.NoError(t, tp.Shutdown(ctx))
	assert.Len(t, meteredBySpan(sink), 3)
	metadatatest.AssertEqualProcessorGenaiCostCallsReleased(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("release_reason", "capacity")), Value: 1},
		{Attributes: attribute.NewSet(attribute.String("release_reason", "shutdown")), Value: 2},
	}, metricdatatest.IgnoreTimestamp())
}

// TestHeldCallResolvesWithItsSDKFeature: a call names its feature through its
// SDK (the AI SDK's functionId); once its parent brings the other identity
// fields, its identity is complete and it goes on at once, as it would have
// had the parent come first, rather than waiting for the missing grandparent.
func TestHeldCallResolvesWithItsSDKFeature(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	_, tp, sink, _ := newHoldingProcessor(t, tel, nil)
	ctx := context.Background()
	call := llmCall(1, 3, 2)
	call.attrs["ai.telemetry.functionId"] = "summarize"
	require.NoError(t, tp.ConsumeTraces(ctx, batch(call)))
	assert.Empty(t, meteredBySpan(sink), "the call waits for its parent")

	// The parent (whose own parent, span 1, never comes) brings tenant, user
	// and session.
	require.NoError(t, tp.ConsumeTraces(ctx, batch(testSpan{1, 2, 1, map[string]any{
		"tenant.id": "t", "user.id": "u", "session.id": "s",
	}})))
	assert.Equal(t, map[string]any{"tenant": "t", "user": "u", "feature": "summarize"}, meteredBySpan(sink)[pcommon.SpanID{3}])
	require.NoError(t, tp.Shutdown(ctx))
	metadatatest.AssertEqualProcessorGenaiCostCallsReleased(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("release_reason", "ancestors_arrived")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp())
}

// TestShutdownPastItsDeadlineStillStops: the expiry loop is stuck passing
// calls on when shutdown's context ends; shutdown says how many calls it
// leaves held and still stops the price refresh loops.
func TestShutdownPastItsDeadlineStillStops(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = 50 * time.Millisecond
	entered, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	next, err := consumer.NewTraces(func(context.Context, ptrace.Traces) error {
		once.Do(func() { close(entered) })
		<-unblock
		return nil
	})
	require.NoError(t, err)
	p, err := newCostProcessor(metadatatest.NewSettings(tel), cfg, next)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	p.now = clock.now
	ctx := context.Background()
	require.NoError(t, p.start(ctx, componenttest.NewNopHost()))
	_, err = p.processTraces(ctx, batch(llmCall(1, 2, 1), llmCall(1, 3, 1)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData, "both calls are held")
	clock.advance(time.Minute)
	<-entered // the loop let them go and is stuck passing them on

	// A third call, held after the loop took the first two.
	_, err = p.processTraces(ctx, batch(llmCall(2, 2, 1)))
	require.ErrorIs(t, err, processorhelper.ErrSkipProcessingData)
	done, cancel := context.WithCancel(ctx)
	cancel()
	assert.EqualError(t, p.shutdown(done), "genai_cost: 1 held calls not let go: context canceled")
	select {
	case <-p.pricer.live.Stopped():
	default:
		t.Error("the price refresh loops were not stopped")
	}
	close(unblock)
	<-p.held.Stopped()
}
