package genaiusageconnector

import (
	"context"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// testClock is the injected clock; the ticker is a channel the test fires.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

type metricsHarness struct {
	c     *metricsConnector
	sink  *consumertest.MetricsSink
	clock *testClock
	tick  chan time.Time
	tel   *componenttest.Telemetry
}

func newMetricsHarness(t *testing.T, cfg *Config) *metricsHarness {
	t.Helper()
	h := &metricsHarness{sink: new(consumertest.MetricsSink), clock: &testClock{now: t0}, tick: make(chan time.Time), tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { require.NoError(t, h.tel.Shutdown(context.Background())) })
	var err error
	h.c, err = newMetricsConnector(metadatatest.NewSettings(h.tel), cfg, h.sink, h.clock.Now,
		func(d time.Duration) (<-chan time.Time, func()) {
			assert.Equal(t, cfg.Metrics.FlushInterval, d)
			return h.tick, func() {}
		})
	require.NoError(t, err)
	return h
}

func (h *metricsHarness) consume(t *testing.T, td ptrace.Traces) {
	t.Helper()
	require.NoError(t, h.c.ConsumeTraces(context.Background(), td))
}

// points flattens the last export: metric name -> series id -> value, the
// series named by the values of the given dimensions ("-" when absent) and
// "overflow" for an overflow series.
func points(t *testing.T, md pmetric.Metrics, dims ...string) map[string]map[string]float64 {
	t.Helper()
	out := map[string]map[string]float64{}
	require.Equal(t, 1, md.ResourceMetrics().Len())
	sms := md.ResourceMetrics().At(0).ScopeMetrics()
	require.Equal(t, 1, sms.Len())
	assert.Equal(t, scopeName, sms.At(0).Scope().Name())
	ms := sms.At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		require.Equal(t, pmetric.MetricTypeSum, m.Type(), m.Name())
		require.True(t, m.Sum().IsMonotonic())
		byID := map[string]float64{}
		dps := m.Sum().DataPoints()
		for j := 0; j < dps.Len(); j++ {
			dp := dps.At(j)
			id := seriesID(dp.Attributes(), dims)
			_, dupID := byID[id]
			require.False(t, dupID, "%s: two points for %s", m.Name(), id)
			switch dp.ValueType() {
			case pmetric.NumberDataPointValueTypeInt:
				byID[id] = float64(dp.IntValue())
			default:
				byID[id] = dp.DoubleValue()
			}
		}
		out[m.Name()] = byID
	}
	return out
}

func seriesID(attrs pcommon.Map, dims []string) string {
	var parts []string
	for _, d := range dims {
		if v, ok := attrs.Get(d); ok {
			parts = append(parts, v.AsString())
		} else {
			parts = append(parts, "-")
		}
	}
	if v, ok := attrs.Get(overflowKey); ok && v.Bool() {
		parts = append(parts, "overflow")
	}
	return strings.Join(parts, "|")
}

func dec(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(err)
	}
	return f
}

// TestMetricsRealClientsExact feeds the processor's golden output of the five
// real clients twice: every call counts once, the uncached input is semconv
// input minus cache, and the cost is the ledger's decimal as a double.
func TestMetricsRealClientsExact(t *testing.T) {
	h := newMetricsHarness(t, createDefaultConfig().(*Config))
	for range 2 {
		for _, name := range realClients {
			in, err := golden.ReadTraces(filepath.Join("..", "..", "processor", "genaicostprocessor", "testdata", "golden", name+".expected.yaml"))
			require.NoError(t, err)
			h.consume(t, in)
		}
	}
	h.clock.Set(t0.Add(15 * time.Second))
	require.NoError(t, h.c.export(context.Background()))
	require.Len(t, h.sink.AllMetrics(), 1)
	got := points(t, h.sink.AllMetrics()[0], dimTenant, dimModel, dimPricingStatus)

	type want struct {
		calls, in, cacheRead, cacheWrite, out, reasoning float64
		cost                                             string
	}
	wants := map[string]want{
		"tenant-a|gpt-4o|priced":                 {1, 4100, 0, 0, 730, 0, "0.01755"},
		"tenant-a|gpt-4o-mini|priced":            {1, 260, 0, 0, 45, 0, "0.000066"},
		"tenant-a|text-embedding-3-small|priced": {1, 1500, 0, 0, 0, 0, "0.00003"},
		"tenant-b|gpt-4.1|priced":                {1, 980, 0, 0, 210, 0, "0.00364"},
		"tenant-b|gpt-4.1-mini|priced":           {1, 64000, 0, 0, 2500, 0, "0.0296"},
		// OpenLLMetry JS writes Anthropic's raw input_tokens, which exclude
		// cache: 5200 uncached × $3/M + 4000 read × $0.30/M + 1100 written ×
		// $3.75/M + 800 out × $15/M = 0.0156 + 0.0012 + 0.004125 + 0.012.
		"tenant-c|claude-sonnet-4-5|priced":        {1, 5200, 4000, 1100, 800, 0, "0.032925"},
		"tenant-c|claude-haiku-4-5|priced":         {1, 450, 0, 0, 90, 0, "0.0009"},
		"tenant-d|gpt-4o-mini|priced":              {1, 7000 - 2048, 2048, 0, 650, 0, "0.0012864"},
		"tenant-d|text-embedding-3-large|no_usage": {1, 0, 0, 0, 0, 0, ""},
		"tenant-e|gpt-4o|priced":                   {1, 1300, 0, 0, 420, 0, "0.00745"},
		"tenant-e|o4-mini|priced":                  {1, 3300, 0, 0, 2600, 2048, "0.01507"},
	}
	wantPoints := map[string]map[string]float64{}
	for _, def := range emittedMetrics[:metricRevenue] { // no call has revenue
		wantPoints[def.name] = map[string]float64{}
	}
	for id, w := range wants {
		wantPoints["genaimeter.usage.calls"][id] = w.calls
		wantPoints["genaimeter.usage.input_tokens"][id] = w.in
		wantPoints["genaimeter.usage.cache_read_tokens"][id] = w.cacheRead
		wantPoints["genaimeter.usage.cache_write_tokens"][id] = w.cacheWrite
		wantPoints["genaimeter.usage.output_tokens"][id] = w.out
		wantPoints["genaimeter.usage.reasoning_tokens"][id] = w.reasoning
		if w.cost != "" { // the unpriced call has no cost point, not a zero
			wantPoints["genaimeter.usage.cost"][id] = dec(w.cost)
		}
	}
	assert.Equal(t, wantPoints, got)

	// The full dimension set of one series, and its exemplar and timestamps.
	md := h.sink.AllMetrics()[0]
	calls := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	assert.Equal(t, "genaimeter.usage.calls", calls.Name())
	assert.Equal(t, "{call}", calls.Unit())
	assert.Equal(t, pmetric.AggregationTemporalityCumulative, calls.Sum().AggregationTemporality())
	var found bool
	for i := 0; i < calls.Sum().DataPoints().Len(); i++ {
		dp := calls.Sum().DataPoints().At(i)
		if seriesID(dp.Attributes(), []string{dimTenant, dimModel}) != "tenant-a|gpt-4o" {
			continue
		}
		found = true
		assert.Equal(t, map[string]any{
			"tenant_id": "tenant-a", "provider": "openai", "model": "gpt-4o", "operation": "chat",
			"feature": "ai_support_reply", "billable": "true", "pricing_status": "priced",
		}, dp.Attributes().AsRaw())
		assert.Equal(t, pcommon.NewTimestampFromTime(t0), dp.StartTimestamp())
		assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(15*time.Second)), dp.Timestamp())
		require.Equal(t, 1, dp.Exemplars().Len())
		ex := dp.Exemplars().At(0)
		assert.Equal(t, "1bb848f12647a9ac73060c9d2d92cef1", ex.TraceID().String())
		assert.Equal(t, "aa930de8a560ec44", ex.SpanID().String())
		assert.Equal(t, pcommon.Timestamp(1795776022147602081), ex.Timestamp())
	}
	assert.True(t, found)

	ignoreTime := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualConnectorGenaiUsageMetricCalls(t, h.tel, []metricdata.DataPoint[int64]{{Value: 11}}, ignoreTime)
	metadatatest.AssertEqualConnectorGenaiUsageDuplicatesSuppressed(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 11, Attributes: attribute.NewSet(attribute.String("signal", "metrics"))},
	}, ignoreTime)
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeries(t, h.tel, []metricdata.DataPoint[int64]{{Value: 11}}, ignoreTime)
	require.NoError(t, h.c.Shutdown(context.Background()))
}

// call is a metered span of tenant and model with a cost.
func call(spans ptrace.SpanSlice, id int, tenant, model, cost string) ptrace.Span {
	s := spans.AppendEmpty()
	s.SetTraceID([16]byte{0: byte(id >> 8), 1: byte(id)})
	s.SetSpanID([8]byte{7: byte(id)})
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0))
	a := s.Attributes()
	a.PutStr(usage.AttrTenantID, tenant)
	a.PutStr(usage.AttrCatalogModel, model)
	a.PutStr(usage.AttrPricingStatus, usage.StatusPriced)
	a.PutBool(usage.AttrBillable, true)
	a.PutInt(usage.AttrInputTokens, 10)
	a.PutInt(usage.AttrOutputTokens, 5)
	a.PutStr(usage.AttrCostUSD, cost)
	return s
}

func TestMetricsCardinalityLimits(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.CardinalityLimit = 5
	cfg.Metrics.CardinalityLimitPerTenant = 1
	h := newMetricsHarness(t, cfg)
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i, c := range []struct{ tenant, model, cost string }{
		{"A", "m1", "0.1"},  // series 1
		{"A", "m2", "0.2"},  // A is at its limit: A's overflow series (2)
		{"B", "m1", "0.3"},  // series 3
		{"C", "m1", "0.4"},  // series 4: the metric is full (one slot is the overflow's)
		{"A", "m3", "0.5"},  // A's overflow series again
		{"B", "m2", "0.6"},  // B at its limit, no room for B's overflow series: global overflow
		{"D", "m1", "0.7"},  // global overflow
		{"C", "m1", "0.01"}, // existing series
	} {
		call(spans, i+1, c.tenant, c.model, c.cost)
	}
	h.consume(t, td)
	require.NoError(t, h.c.export(context.Background()))
	got := points(t, h.sink.AllMetrics()[0], dimTenant, dimModel)
	assert.Equal(t, map[string]float64{"A|m1": 1, "A|-|overflow": 2, "B|m1": 1, "C|m1": 2, "-|-|overflow": 2}, got["genaimeter.usage.calls"])
	assert.Equal(t, map[string]float64{"A|m1": 0.1, "A|-|overflow": 0.7, "B|m1": 0.3, "C|m1": 0.41, "-|-|overflow": 1.3}, got["genaimeter.usage.cost"])
	assert.Equal(t, map[string]float64{"A|m1": 10, "A|-|overflow": 20, "B|m1": 10, "C|m1": 20, "-|-|overflow": 20}, got["genaimeter.usage.input_tokens"])

	// An overflow series carries only its tenant and the overflow flag.
	dps := h.sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints()
	var raws []map[string]any
	for i := 0; i < dps.Len(); i++ {
		if _, ok := dps.At(i).Attributes().Get(overflowKey); ok {
			raws = append(raws, dps.At(i).Attributes().AsRaw())
		}
	}
	sort.Slice(raws, func(i, j int) bool { return len(raws[i]) < len(raws[j]) })
	assert.Equal(t, []map[string]any{{overflowKey: true}, {overflowKey: true, "tenant_id": "A"}}, raws)

	ignoreTime := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualConnectorGenaiUsageMetricOverflow(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("limit", "cardinality_limit"))},
		{Value: 2, Attributes: attribute.NewSet(attribute.String("limit", "cardinality_limit_per_tenant"))},
	}, ignoreTime)
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeries(t, h.tel, []metricdata.DataPoint[int64]{{Value: 5}}, ignoreTime)
	require.NoError(t, h.c.Shutdown(context.Background()))
}

func TestMetricsTemporality(t *testing.T) {
	for _, temporality := range []string{"delta", "cumulative"} {
		t.Run(temporality, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Metrics.Temporality = temporality
			h := newMetricsHarness(t, cfg)
			require.NoError(t, h.c.Start(context.Background(), componenttest.NewNopHost()))
			send := func(ids ...int) {
				td := ptrace.NewTraces()
				spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
				for _, id := range ids {
					call(spans, id, "A", "m", "0.25")
				}
				h.consume(t, td)
			}
			tick := func(at time.Duration, wantExports int) {
				h.clock.Set(t0.Add(at))
				h.tick <- t0.Add(at)
				// The flush has run when it moved lastFlush (export or not) and
				// handed on what it built.
				require.Eventually(t, func() bool {
					h.c.mu.Lock()
					flushed := h.c.lastFlush == pcommon.NewTimestampFromTime(t0.Add(at))
					h.c.mu.Unlock()
					return flushed && len(h.sink.AllMetrics()) == wantExports
				}, 5*time.Second, time.Millisecond)
			}
			send(1, 2)
			tick(15*time.Second, 1)
			send(2, 3) // 2 is a duplicate, even across a flush
			tick(30*time.Second, 2)
			tick(45*time.Second, map[string]int{"delta": 2, "cumulative": 3}[temporality]) // nothing new
			send(4)
			h.clock.Set(t0.Add(50 * time.Second))
			require.NoError(t, h.c.Shutdown(context.Background())) // flushes what is pending

			type exp struct {
				calls       float64
				cost        float64
				start, time time.Duration
			}
			var wants []exp
			if temporality == "delta" {
				wants = []exp{{2, 0.5, 0, 15 * time.Second}, {1, 0.25, 15 * time.Second, 30 * time.Second}, {1, 0.25, 45 * time.Second, 50 * time.Second}}
			} else {
				wants = []exp{{2, 0.5, 0, 15 * time.Second}, {3, 0.75, 0, 30 * time.Second}, {3, 0.75, 0, 45 * time.Second}, {4, 1, 0, 50 * time.Second}}
			}
			all := h.sink.AllMetrics()
			require.Len(t, all, len(wants))
			for i, w := range wants {
				ms := all[i].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
				calls, cost := ms.At(0), ms.At(metricCost)
				require.Equal(t, "genaimeter.usage.cost", cost.Name())
				require.Equal(t, 1, calls.Sum().DataPoints().Len())
				dp := calls.Sum().DataPoints().At(0)
				assert.Equal(t, w.calls, float64(dp.IntValue()), "export %d", i)
				assert.Equal(t, w.cost, cost.Sum().DataPoints().At(0).DoubleValue(), "export %d", i)
				assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(w.start)), dp.StartTimestamp(), "export %d", i)
				assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(w.time)), dp.Timestamp(), "export %d", i)
				wantTemp := pmetric.AggregationTemporalityCumulative
				if temporality == "delta" {
					wantTemp = pmetric.AggregationTemporalityDelta
				}
				assert.Equal(t, wantTemp, calls.Sum().AggregationTemporality())
				// An exemplar only on an interval that had a call.
				wantEx := map[bool]int{true: 0, false: 1}[temporality == "cumulative" && i == 2]
				assert.Equal(t, wantEx, dp.Exemplars().Len(), "export %d", i)
			}
			require.NoError(t, h.c.Shutdown(context.Background())) // idempotent
		})
	}
}

// TestMetricsExactDecimalSum: ten calls of 0.1 sum to exactly 1, which float
// addition does not give (0.1+0.1+... = 0.9999999999999999).
func TestMetricsExactDecimalSum(t *testing.T) {
	var float float64
	for range 10 {
		float += dec("0.1")
	}
	require.NotEqual(t, 1.0, float, "the values must defeat a float sum")
	h := newMetricsHarness(t, createDefaultConfig().(*Config))
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range 10 {
		call(spans, i+1, "A", "m", "0.1")
	}
	h.consume(t, td)
	require.NoError(t, h.c.export(context.Background()))
	got := points(t, h.sink.AllMetrics()[0], dimTenant)
	assert.Equal(t, map[string]float64{"A": 1}, got["genaimeter.usage.cost"])
}

func TestMetricsInvalidValuesLeftOutAndCounted(t *testing.T) {
	h := newMetricsHarness(t, createDefaultConfig().(*Config))
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	s := call(spans, 1, "A", "m", "abc")
	s.Attributes().PutInt(usage.AttrCacheReadTokens, 20) // more than the input of 10
	s.Attributes().PutInt(usage.AttrOutputTokens, -1)
	s.Attributes().PutStr(usage.AttrRevenueUSD, "-0.5")
	s = call(spans, 2, "A", "m", "0.2")
	s.Attributes().PutStr(usage.AttrReasoningTokens, "7") // wrong type
	h.consume(t, td)
	require.NoError(t, h.c.export(context.Background()))
	got := points(t, h.sink.AllMetrics()[0], dimTenant)
	assert.Equal(t, map[string]map[string]float64{
		"genaimeter.usage.calls":              {"A": 2},
		"genaimeter.usage.input_tokens":       {"A": 10}, // the second call's only
		"genaimeter.usage.cache_read_tokens":  {"A": 20},
		"genaimeter.usage.cache_write_tokens": {"A": 0},
		"genaimeter.usage.output_tokens":      {"A": 5},
		"genaimeter.usage.reasoning_tokens":   {"A": 0},
		"genaimeter.usage.cost":               {"A": 0.2},
	}, got)
	metadatatest.AssertEqualConnectorGenaiUsageMetricInvalidValues(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("field", "input_tokens"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("field", "output_tokens"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("field", "reasoning_tokens"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("field", "cost"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("field", "revenue"))},
	}, metricdatatest.IgnoreTimestamp())
}

func TestMetricsConfiguredDimensionsAndRevenue(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.ExcludeDimensions = []string{dimFeature, dimBillable, dimOperation, dimProvider}
	unknown := "unknown"
	cfg.Metrics.Dimensions = []Dimension{{Name: "deployment.environment.name", Default: &unknown}, {Name: "region"}}
	cfg.Metrics.Exemplars.Enabled = false
	h := newMetricsHarness(t, cfg)
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("deployment.environment.name", "prod")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	s := call(spans, 1, "A", "m", "0.1")
	s.Attributes().PutStr(usage.AttrRevenueUSD, "0.3")
	s.Attributes().PutStr(usage.AttrPlan, "pro")
	s = call(spans, 2, "A", "m", "0.1")
	s.Attributes().PutStr("deployment.environment.name", "staging") // the span wins over its resource
	s.Attributes().PutStr("region", "eu")
	call(td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans(), 3, "A", "m", "0.1")
	h.consume(t, td)
	require.NoError(t, h.c.export(context.Background()))
	ms := h.sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	require.Equal(t, len(emittedMetrics), ms.Len())
	var got []map[string]any
	dps := ms.At(0).Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		got = append(got, dps.At(i).Attributes().AsRaw())
		assert.Zero(t, dps.At(i).Exemplars().Len())
	}
	sort.Slice(got, func(i, j int) bool {
		return got[i]["deployment.environment.name"].(string) < got[j]["deployment.environment.name"].(string)
	})
	assert.Equal(t, []map[string]any{
		{"tenant_id": "A", "model": "m", "pricing_status": "priced", "plan": "pro", "deployment.environment.name": "prod"},
		{"tenant_id": "A", "model": "m", "pricing_status": "priced", "deployment.environment.name": "staging", "region": "eu"},
		{"tenant_id": "A", "model": "m", "pricing_status": "priced", "deployment.environment.name": "unknown"},
	}, got)
	rev := ms.At(metricRevenue)
	assert.Equal(t, "genaimeter.usage.revenue", rev.Name())
	assert.Equal(t, "USD", rev.Unit())
	require.Equal(t, 1, rev.Sum().DataPoints().Len())
	assert.Equal(t, 0.3, rev.Sum().DataPoints().At(0).DoubleValue())
	assert.Equal(t, "pro", rev.Sum().DataPoints().At(0).Attributes().AsRaw()["plan"])
}

func TestMetricsShutdownWithoutStart(t *testing.T) {
	h := newMetricsHarness(t, createDefaultConfig().(*Config))
	require.NoError(t, h.c.Shutdown(context.Background()))
	require.NoError(t, h.c.Shutdown(context.Background()))
	assert.Empty(t, h.sink.AllMetrics())
}
