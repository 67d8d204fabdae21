package genaiusageconnector

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadatatest"
)

const expiredMetric = "otelcol_connector_genai_usage_metric_series_expired"

// expiryHarness drives the connector by hand: calls and flushes at given
// offsets from t0 on the injected clock.
type expiryHarness struct {
	*metricsHarness
	id int
}

func newExpiryHarness(t *testing.T, mutate func(*MetricsConfig)) *expiryHarness {
	cfg := createDefaultConfig().(*Config)
	mutate(&cfg.Metrics)
	require.NoError(t, cfg.Validate())
	return &expiryHarness{metricsHarness: newMetricsHarness(t, cfg)}
}

// send makes one call per {tenant, model, cost} at t0+at.
func (h *expiryHarness) send(t *testing.T, at time.Duration, calls ...[3]string) {
	t.Helper()
	h.clock.Set(t0.Add(at))
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for _, c := range calls {
		h.id++
		call(spans, h.id, c[0], c[1], c[2])
	}
	h.consume(t, td)
}

// flush exports at t0+at and returns the cost points and the start time of
// each calls point (offset from t0), by tenant|model.
func (h *expiryHarness) flush(t *testing.T, at time.Duration) (cost map[string]float64, start map[string]time.Duration) {
	t.Helper()
	h.clock.Set(t0.Add(at))
	before := len(h.sink.AllMetrics())
	require.NoError(t, h.c.export(context.Background()))
	all := h.sink.AllMetrics()
	require.Len(t, all, before+1)
	md := all[len(all)-1]
	cost = points(t, md, dimTenant, dimModel)["genaimeter.usage.cost"]
	start = map[string]time.Duration{}
	calls := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(metricCalls)
	require.Equal(t, "genaimeter.usage.calls", calls.Name())
	for i := 0; i < calls.Sum().DataPoints().Len(); i++ {
		dp := calls.Sum().DataPoints().At(i)
		assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(at)), dp.Timestamp())
		start[seriesID(dp.Attributes(), []string{dimTenant, dimModel})] = dp.StartTimestamp().AsTime().Sub(t0)
	}
	return cost, start
}

func (h *expiryHarness) held() (series, tenants map[string]bool, overflow bool) {
	h.c.mu.Lock()
	defer h.c.mu.Unlock()
	series, tenants = map[string]bool{}, map[string]bool{}
	for _, s := range h.c.series {
		id := seriesID(s.attrs, []string{dimTenant, dimModel})
		series[id] = true
	}
	for tenant, n := range h.c.tenantSeries {
		tenants[tenant+"="+strconv.Itoa(n)] = true
	}
	return series, tenants, h.c.overflow != nil
}

// TestMetricsExpiryFreesGlobalSlot: with a full metric, an idle series and the
// idle overflow series expire at the first flush an hour after their last
// call (emitted one last time there), so the next new tenant gets a series
// of its own instead of the overflow, with a start time at its first call; a
// series called within the hour stays with its first start time.
func TestMetricsExpiryFreesGlobalSlot(t *testing.T) {
	h := newExpiryHarness(t, func(m *MetricsConfig) {
		m.CardinalityLimit = 3 // two series and the global overflow
		m.CardinalityLimitPerTenant = 0
		m.SeriesExpiration = time.Hour
	})
	h.send(t, 0, [3]string{"A", "m1", "0.1"}, [3]string{"B", "m1", "0.2"}, [3]string{"C", "m1", "0.3"})
	cost, start := h.flush(t, 15*time.Second)
	assert.Equal(t, map[string]float64{"A|m1": 0.1, "B|m1": 0.2, "-|-|overflow": 0.3}, cost)
	assert.Equal(t, map[string]time.Duration{"A|m1": 0, "B|m1": 0, "-|-|overflow": 0}, start)

	h.send(t, 30*time.Minute, [3]string{"B", "m1", "0.05"})
	// One nanosecond short of an hour idle: nothing expires.
	cost, _ = h.flush(t, time.Hour-time.Nanosecond)
	assert.Equal(t, map[string]float64{"A|m1": 0.1, "B|m1": 0.25, "-|-|overflow": 0.3}, cost)
	_, err := h.tel.GetMetric(expiredMetric)
	require.Error(t, err, "nothing expired yet")

	// An hour idle: A and the overflow are emitted a last time, then dropped.
	cost, _ = h.flush(t, time.Hour)
	assert.Equal(t, map[string]float64{"A|m1": 0.1, "B|m1": 0.25, "-|-|overflow": 0.3}, cost)
	series, tenants, overflow := h.held()
	assert.Equal(t, map[string]bool{"B|m1": true}, series)
	assert.Equal(t, map[string]bool{"B=1": true}, tenants)
	assert.False(t, overflow)
	ignoreTime := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeriesExpired(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, ignoreTime)
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeries(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, ignoreTime)

	// C now gets its own series; D fills the metric again and goes to a new
	// overflow series; A comes back into the overflow, not into its old series.
	h.send(t, time.Hour+time.Minute, [3]string{"C", "m1", "0.4"}, [3]string{"D", "m1", "0.5"}, [3]string{"A", "m1", "0.6"})
	cost, start = h.flush(t, time.Hour+2*time.Minute)
	assert.Equal(t, map[string]float64{"B|m1": 0.25, "C|m1": 0.4, "-|-|overflow": 1.1}, cost)
	assert.Equal(t, map[string]time.Duration{"B|m1": 0, "C|m1": time.Hour + time.Minute, "-|-|overflow": time.Hour + time.Minute}, start)
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeries(t, h.tel, []metricdata.DataPoint[int64]{{Value: 3}}, ignoreTime)
	metadatatest.AssertEqualConnectorGenaiUsageMetricOverflow(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("limit", "cardinality_limit"))},
	}, ignoreTime)

	// Once C and the overflow expire in turn, A calls again: a series of its
	// own, started at that call (a reset from its old 0.1), not the overflow.
	h.send(t, 2*time.Hour+30*time.Minute, [3]string{"B", "m1", "0.01"})
	_, _ = h.flush(t, 3*time.Hour+time.Minute) // C and the overflow expire; B was called at 2h30
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeriesExpired(t, h.tel, []metricdata.DataPoint[int64]{{Value: 4}}, ignoreTime)
	h.send(t, 3*time.Hour+2*time.Minute, [3]string{"A", "m1", "0.7"})
	cost, start = h.flush(t, 3*time.Hour+3*time.Minute)
	assert.Equal(t, map[string]float64{"A|m1": 0.7, "B|m1": 0.26}, cost)
	assert.Equal(t, map[string]time.Duration{"A|m1": 3*time.Hour + 2*time.Minute, "B|m1": 0}, start)
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeries(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, ignoreTime)
	require.NoError(t, h.c.Shutdown(context.Background()))
}

// TestMetricsExpiryFreesTenantSlot: a tenant at its per-tenant limit whose
// series and overflow series expire gets a series of its own for a new model,
// not its overflow series.
func TestMetricsExpiryFreesTenantSlot(t *testing.T) {
	h := newExpiryHarness(t, func(m *MetricsConfig) {
		m.CardinalityLimitPerTenant = 1
		m.SeriesExpiration = time.Hour
	})
	h.send(t, 0, [3]string{"A", "m1", "0.1"}, [3]string{"A", "m2", "0.2"})
	cost, _ := h.flush(t, 15*time.Second)
	assert.Equal(t, map[string]float64{"A|m1": 0.1, "A|-|overflow": 0.2}, cost)
	_, _ = h.flush(t, time.Hour)
	series, tenants, _ := h.held()
	assert.Empty(t, series)
	assert.Empty(t, tenants, "the tenant's count is freed, not left at 0")

	h.send(t, time.Hour+time.Minute, [3]string{"A", "m2", "0.3"})
	cost, start := h.flush(t, time.Hour+2*time.Minute)
	assert.Equal(t, map[string]float64{"A|m2": 0.3}, cost)
	assert.Equal(t, map[string]time.Duration{"A|m2": time.Hour + time.Minute}, start)
	ignoreTime := metricdatatest.IgnoreTimestamp()
	metadatatest.AssertEqualConnectorGenaiUsageMetricOverflow(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("limit", "cardinality_limit_per_tenant"))},
	}, ignoreTime)
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeriesExpired(t, h.tel, []metricdata.DataPoint[int64]{{Value: 2}}, ignoreTime)
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeries(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, ignoreTime)
}

// TestMetricsCalledSeriesNeverExpires: a series called every 59 minutes for
// ten hours, flushed every minute (59 minutes idle at the flush just before
// each call), keeps its first start time and its running sum; the idle series
// beside it is emitted up to the flush at 1h and then expires, so the expiry
// was live all along.
func TestMetricsCalledSeriesNeverExpires(t *testing.T) {
	h := newExpiryHarness(t, func(m *MetricsConfig) { m.SeriesExpiration = time.Hour })
	h.send(t, 0, [3]string{"idle", "m", "1"})
	calls := 0
	for at := time.Duration(0); at <= 10*time.Hour; at += time.Minute {
		if at > 0 {
			cost, start := h.flush(t, at)
			assert.Equal(t, 0.5*float64(calls), cost["busy|m"], "at %v", at)
			assert.Equal(t, time.Duration(0), start["busy|m"], "at %v", at)
			_, idle := cost["idle|m"]
			require.Equal(t, at <= time.Hour, idle, "at %v", at)
		}
		if at%(59*time.Minute) == 0 {
			h.send(t, at, [3]string{"busy", "m", "0.5"})
			calls++
		}
	}
	assert.Equal(t, 11, calls)
	metadatatest.AssertEqualConnectorGenaiUsageMetricSeriesExpired(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())
}

// TestMetricsExpiryOffOrDelta: 0 keeps an idle series forever; with delta the
// expiry plays no part (every series is dropped at each flush, not expired).
func TestMetricsExpiryOffOrDelta(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		h := newExpiryHarness(t, func(m *MetricsConfig) { m.SeriesExpiration = 0 })
		h.send(t, 0, [3]string{"A", "m", "0.1"})
		cost, start := h.flush(t, 1000*time.Hour)
		assert.Equal(t, map[string]float64{"A|m": 0.1}, cost)
		assert.Equal(t, map[string]time.Duration{"A|m": 0}, start)
		_, err := h.tel.GetMetric(expiredMetric)
		require.Error(t, err)
	})
	t.Run("delta", func(t *testing.T) {
		h := newExpiryHarness(t, func(m *MetricsConfig) {
			m.Temporality = temporalityDelta
			m.SeriesExpiration = m.FlushInterval
		})
		h.send(t, 0, [3]string{"A", "m", "0.1"})
		cost, _ := h.flush(t, time.Hour)
		assert.Equal(t, map[string]float64{"A|m": 0.1}, cost)
		assert.Equal(t, pmetric.AggregationTemporalityDelta, h.sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().AggregationTemporality())
		_, err := h.tel.GetMetric(expiredMetric)
		require.Error(t, err)
		metadatatest.AssertEqualConnectorGenaiUsageMetricSeries(t, h.tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
	})
}
