package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import (
	"context"
	"sync"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// metricDef is one metric the connector emits. promName is the name the
// prometheus exporter exposes it under (dots to underscores, the unit unless it
// is an {annotation}, _total on a monotonic sum): the dashboard queries it.
type metricDef struct {
	name, unit, description, promName string
}

// Token buckets, in the order of metric definitions 1..5.
const (
	bucketInput = iota // uncached input
	bucketCacheRead
	bucketCacheWrite
	bucketOutput
	bucketReasoning
	numBuckets
)

// emittedMetrics is the single list of the metrics the connector emits, in
// emission order: calls, the token buckets in bucket order, cost, revenue.
var emittedMetrics = []metricDef{
	{"genaimeter.usage.calls", "{call}", "Metered LLM calls.", "genaimeter_usage_calls_total"},
	{"genaimeter.usage.input_tokens", "{token}", "Input tokens not read from or written to a cache (semconv input minus cache read and cache write).", "genaimeter_usage_input_tokens_total"},
	{"genaimeter.usage.cache_read_tokens", "{token}", "Input tokens read from a cache.", "genaimeter_usage_cache_read_tokens_total"},
	{"genaimeter.usage.cache_write_tokens", "{token}", "Input tokens written to a cache.", "genaimeter_usage_cache_write_tokens_total"},
	{"genaimeter.usage.output_tokens", "{token}", "Output tokens, reasoning tokens included (semconv).", "genaimeter_usage_output_tokens_total"},
	{"genaimeter.usage.reasoning_tokens", "{token}", "Reasoning tokens (a part of the output tokens).", "genaimeter_usage_reasoning_tokens_total"},
	{"genaimeter.usage.cost", "USD", "Cost of the priced calls in USD; unpriced calls add nothing and are counted by genaimeter.usage.calls with their pricing_status.", "genaimeter_usage_cost_USD_total"},
	{"genaimeter.usage.revenue", "USD", "Revenue of the calls with a rate card, in USD.", "genaimeter_usage_revenue_USD_total"},
}

const (
	metricCalls   = 0
	metricTokens0 = 1
	metricCost    = 6
	metricRevenue = 7
)

var tokenFields = [numBuckets]string{"input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens"}

// series is the aggregate of one dimension set. Money is summed as exact
// decimals and becomes a double only on the data point.
type series struct {
	attrs     pcommon.Map
	tenant    string // the tenant whose per-tenant budget it counts against
	start     pcommon.Timestamp
	lastCall  pcommon.Timestamp // when it last received a call: its expiry clock
	calls     int64
	tokens    [numBuckets]int64
	cost      apd.Decimal
	revenue   apd.Decimal
	hasCost   bool
	hasRev    bool
	exemplar  bool
	tenantOvf bool // a tenant's overflow series: not in tenantSeries
	exTrace   pcommon.TraceID
	exSpan    pcommon.SpanID
	exTime    pcommon.Timestamp
	exCost    float64
	exHasCost bool
}

type metricsConnector struct {
	cfg       *Config
	dims      []dimension
	delta     bool
	expiry    pcommon.Timestamp // 0: series never expire (always 0 with delta)
	next      consumer.Metrics
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time
	newTicker func(time.Duration) (<-chan time.Time, func())

	mu           sync.Mutex
	seen         *dedupe            // guarded by mu
	series       map[string]*series // guarded by mu; regular and per-tenant overflow series
	tenantSeries map[string]int     // guarded by mu; regular series per tenant
	overflow     *series            // guarded by mu; the global overflow series, if any
	lastFlush    pcommon.Timestamp  // guarded by mu; start of the delta interval
	key          []byte             // guarded by mu; scratch
	vals         []string           // guarded by mu; scratch
	oks          []bool             // guarded by mu; scratch

	done         chan struct{}
	wg           sync.WaitGroup
	stopTicker   func()
	shutdownOnce sync.Once
}

func newMetricsConnector(set connector.Settings, cfg *Config, next consumer.Metrics, now func() time.Time,
	newTicker func(time.Duration) (<-chan time.Time, func()),
) (*metricsConnector, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	dims := configuredDimensions(&cfg.Metrics)
	delta := cfg.Metrics.Temporality == temporalityDelta
	var expiry pcommon.Timestamp
	if !delta { // delta drops every series at each flush anyway
		expiry = pcommon.Timestamp(cfg.Metrics.SeriesExpiration.Nanoseconds())
	}
	return &metricsConnector{
		cfg:          cfg,
		dims:         dims,
		delta:        delta,
		expiry:       expiry,
		next:         next,
		logger:       set.Logger,
		telemetry:    tb,
		now:          now,
		newTicker:    newTicker,
		seen:         newDedupe(cfg.Dedupe),
		series:       map[string]*series{},
		tenantSeries: map[string]int{},
		lastFlush:    pcommon.NewTimestampFromTime(now()),
		vals:         make([]string, len(dims)),
		oks:          make([]bool, len(dims)),
	}, nil
}

func systemTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

func (*metricsConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// Start starts the flush ticker.
func (c *metricsConnector) Start(context.Context, component.Host) error {
	tick, stop := c.newTicker(c.cfg.Metrics.FlushInterval)
	c.stopTicker = stop
	c.done = make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-tick:
				c.flush(context.Background())
			case <-c.done:
				return
			}
		}
	}()
	return nil
}

// Shutdown stops the ticker and flushes what is pending, so that the calls of
// the last interval are not lost.
func (c *metricsConnector) Shutdown(ctx context.Context) error {
	var err error
	c.shutdownOnce.Do(func() {
		if c.done != nil {
			close(c.done)
			c.stopTicker()
			c.wg.Wait()
			err = c.export(ctx)
		}
		c.telemetry.Shutdown()
	})
	return err
}

func (c *metricsConnector) flush(ctx context.Context) {
	if err := c.export(ctx); err != nil {
		c.logger.Error("genai_usage: failed to export usage metrics", zap.Error(err))
	}
}

// export builds the metrics under the lock, then hands them on without it.
func (c *metricsConnector) export(ctx context.Context) error {
	c.mu.Lock()
	md, n, dropped, expired := c.build(pcommon.NewTimestampFromTime(c.now()))
	c.mu.Unlock()
	if dropped+expired > 0 {
		c.telemetry.ConnectorGenaiUsageMetricSeries.Add(ctx, -(dropped + expired))
	}
	if expired > 0 {
		c.telemetry.ConnectorGenaiUsageMetricSeriesExpired.Add(ctx, expired)
	}
	if n == 0 {
		return nil
	}
	return c.next.ConsumeMetrics(ctx, md)
}

// overflow telemetry attribute sets, built once.
var (
	limitGlobal    = metric.WithAttributeSet(attribute.NewSet(attribute.String("limit", "cardinality_limit")))
	limitPerTenant = metric.WithAttributeSet(attribute.NewSet(attribute.String("limit", "cardinality_limit_per_tenant")))
)

// aggregation counts what one ConsumeTraces did, for telemetry after the lock.
type aggregation struct {
	calls, dups, evicted, created     int64
	overflowGlobal, overflowPerTenant int64
	invalid                           [numBuckets + 2]int64 // token buckets, cost, revenue
}

var invalidFields = func() [numBuckets + 2]metric.AddOption {
	var o [numBuckets + 2]metric.AddOption
	for i, f := range append(tokenFields[:], "cost", "revenue") {
		o[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("field", f)))
	}
	return o
}()

// ConsumeTraces aggregates every metered span (it carries
// genaimeter.pricing_status) into the usage metrics, once per event id inside
// the duplicate window.
func (c *metricsConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	var agg aggregation
	now := c.now()
	nowNanos, nowTS := now.UnixNano(), pcommon.NewTimestampFromTime(now)
	c.mu.Lock()
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				attrs := span.Attributes()
				if _, ok := attrs.Get(usage.AttrPricingStatus); !ok {
					continue
				}
				key, _ := keyOf(span, rs.Resource())
				dup, ev := c.seen.add(key, nowNanos)
				agg.evicted += int64(ev)
				if dup {
					agg.dups++
					continue
				}
				c.aggregate(&agg, span, attrs, res, nowTS)
			}
		}
	}
	c.mu.Unlock()

	t := c.telemetry
	if agg.calls > 0 {
		t.ConnectorGenaiUsageMetricCalls.Add(ctx, agg.calls)
	}
	if agg.dups > 0 {
		t.ConnectorGenaiUsageDuplicatesSuppressed.Add(ctx, agg.dups, metricsSignal)
	}
	if agg.evicted > 0 {
		t.ConnectorGenaiUsageDedupeEvicted.Add(ctx, agg.evicted, metricsSignal)
	}
	if agg.created > 0 {
		t.ConnectorGenaiUsageMetricSeries.Add(ctx, agg.created)
	}
	if agg.overflowGlobal > 0 {
		t.ConnectorGenaiUsageMetricOverflow.Add(ctx, agg.overflowGlobal, limitGlobal)
	}
	if agg.overflowPerTenant > 0 {
		t.ConnectorGenaiUsageMetricOverflow.Add(ctx, agg.overflowPerTenant, limitPerTenant)
	}
	for i, n := range agg.invalid {
		if n > 0 {
			t.ConnectorGenaiUsageMetricInvalidValues.Add(ctx, n, invalidFields[i])
		}
	}
	return nil
}

// aggregate adds one call to its series. The caller holds c.mu.
func (c *metricsConnector) aggregate(agg *aggregation, span ptrace.Span, attrs, res pcommon.Map, now pcommon.Timestamp) {
	agg.calls++
	tenant := ""
	key := c.key[:0]
	for i, d := range c.dims {
		v, ok := d.get(attrs, res)
		c.vals[i], c.oks[i] = v, ok
		key = appendKey(key, v, ok)
		if d.name == dimTenant {
			tenant = v
		}
	}
	c.key = key
	s := c.seriesFor(agg, key, tenant, now)
	s.lastCall = now

	// Token buckets. Semconv input includes cache reads and writes; the
	// uncached bucket is what remains.
	var tok [numBuckets]int64
	var bad [numBuckets]bool
	for b, k := range [numBuckets]string{usage.AttrInputTokens, usage.AttrCacheReadTokens, usage.AttrCacheWriteTokens, usage.AttrOutputTokens, usage.AttrReasoningTokens} {
		v, ok := attrs.Get(k)
		if !ok {
			continue
		}
		if v.Type() != pcommon.ValueTypeInt || v.Int() < 0 {
			bad[b] = true
			continue
		}
		tok[b] = v.Int()
	}
	if !bad[bucketInput] && !bad[bucketCacheRead] && !bad[bucketCacheWrite] {
		cache := tok[bucketCacheRead]
		if usage.AddCount(&cache, tok[bucketCacheWrite]) != nil || cache > tok[bucketInput] {
			bad[bucketInput] = true
		} else {
			tok[bucketInput] -= cache
		}
	}
	s.calls++
	for b := range tok {
		// A sum int64 cannot hold is left out and counted as invalid, never
		// wrapped around to a negative counter.
		if bad[b] || usage.AddCount(&s.tokens[b], tok[b]) != nil {
			agg.invalid[b]++
		}
	}

	cost, hasCost := c.decimal(agg, attrs, usage.AttrCostUSD, numBuckets)
	// Precision 0 never rounds, so the sums are exact; Add can only fail on an
	// exponent overflow, and then the value is left out and counted, never
	// added wrongly.
	if hasCost {
		if err := money.Add(&s.cost, &s.cost, &cost); err != nil {
			agg.invalid[numBuckets]++
		} else {
			s.hasCost = true
		}
	}
	if rev, ok := c.decimal(agg, attrs, usage.AttrRevenueUSD, numBuckets+1); ok {
		if err := money.Add(&s.revenue, &s.revenue, &rev); err != nil {
			agg.invalid[numBuckets+1]++
		} else {
			s.hasRev = true
		}
	}

	if c.cfg.Metrics.Exemplars.Enabled {
		s.exemplar = true
		s.exTrace, s.exSpan = span.TraceID(), span.SpanID()
		s.exTime = usage.CallTime(span)
		if s.exTime == 0 {
			s.exTime = now
		}
		s.exHasCost = hasCost
		if hasCost {
			s.exCost, _ = cost.Float64()
		}
	}
}

// decimal reads a non-negative decimal amount; a malformed one is counted as
// invalid (field index f) and left out, never added as zero.
func (*metricsConnector) decimal(agg *aggregation, attrs pcommon.Map, key string, f int) (apd.Decimal, bool) {
	v, ok := attrs.Get(key)
	if !ok {
		return apd.Decimal{}, false
	}
	if v.Type() == pcommon.ValueTypeStr {
		d, err := money.Parse(v.Str())
		if err == nil && !d.Negative {
			return d, true
		}
	}
	agg.invalid[f]++
	return apd.Decimal{}, false
}

// seriesFor finds or makes the series of key, applying the cardinality limits:
// a tenant at its limit gets its overflow series; when the metric is at its
// limit, the call goes to the global overflow series. The caller holds c.mu.
func (c *metricsConnector) seriesFor(agg *aggregation, key []byte, tenant string, now pcommon.Timestamp) *series {
	if s, ok := c.series[string(key)]; ok { // no allocation: map lookup by converted []byte
		return s
	}
	m := &c.cfg.Metrics
	perTenant := m.CardinalityLimitPerTenant > 0 && c.tenantSeries[tenant] >= m.CardinalityLimitPerTenant
	if perTenant {
		agg.overflowPerTenant++
		// The tenant's overflow series: its key cannot collide with a regular
		// key, whose first byte is a presence byte (0 or 1).
		key = append(append(c.key[:0], 2), tenant...)
		c.key = key
		if s, ok := c.series[string(key)]; ok {
			return s
		}
	}
	// One series is kept for the global overflow.
	if len(c.series) >= m.CardinalityLimit-1 {
		if perTenant {
			agg.overflowPerTenant-- // counted once, under the limit that placed it
		}
		agg.overflowGlobal++
		if c.overflow == nil {
			c.overflow = &series{attrs: pcommon.NewMap(), start: now}
			c.overflow.attrs.PutBool(overflowKey, true)
			agg.created++
		}
		return c.overflow
	}
	s := &series{attrs: pcommon.NewMap(), tenant: tenant, start: now, tenantOvf: perTenant}
	if perTenant {
		s.attrs.PutStr(dimTenant, tenant)
		s.attrs.PutBool(overflowKey, true)
	} else {
		s.attrs.EnsureCapacity(len(c.dims))
		for i, d := range c.dims {
			if c.oks[i] {
				s.attrs.PutStr(d.name, c.vals[i])
			}
		}
		c.tenantSeries[tenant]++
	}
	c.series[string(key)] = s
	agg.created++
	return s
}

// build returns the metrics of every series (n data point sets) and, for delta
// temporality, starts a new interval: the series are dropped (dropped is their
// number). With cumulative temporality and an expiry, a series idle for
// metrics.series_expiration is dropped after its point is emitted (expired is
// their number), so that no call is lost whatever the ticker does. Exemplars
// cover one interval in both temporalities. The caller holds c.mu.
func (c *metricsConnector) build(now pcommon.Timestamp) (md pmetric.Metrics, n int, dropped, expired int64) {
	md = pmetric.NewMetrics()
	n = len(c.series)
	if c.overflow != nil {
		n++
	}
	if n == 0 {
		c.lastFlush = now // the next delta interval starts here
		return md, 0, 0, 0
	}
	sm := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(scopeName)
	temporality := pmetric.AggregationTemporalityCumulative
	if c.delta {
		temporality = pmetric.AggregationTemporalityDelta
	}
	sums := make([]pmetric.Sum, len(emittedMetrics))
	for i, def := range emittedMetrics {
		m := sm.Metrics().AppendEmpty()
		m.SetName(def.name)
		m.SetUnit(def.unit)
		m.SetDescription(def.description)
		sums[i] = m.SetEmptySum()
		sums[i].SetIsMonotonic(true)
		sums[i].SetAggregationTemporality(temporality)
		sums[i].DataPoints().EnsureCapacity(n)
	}
	emit := func(s *series) {
		start := s.start
		if c.delta {
			start = c.lastFlush
		}
		point := func(metric int) pmetric.NumberDataPoint {
			dp := sums[metric].DataPoints().AppendEmpty()
			s.attrs.CopyTo(dp.Attributes())
			dp.SetStartTimestamp(start)
			dp.SetTimestamp(now)
			return dp
		}
		dp := point(metricCalls)
		dp.SetIntValue(s.calls)
		if s.exemplar {
			ex := dp.Exemplars().AppendEmpty()
			ex.SetTraceID(s.exTrace)
			ex.SetSpanID(s.exSpan)
			ex.SetTimestamp(s.exTime)
			ex.SetIntValue(1)
		}
		for b := range numBuckets {
			point(metricTokens0 + b).SetIntValue(s.tokens[b])
		}
		if s.hasCost {
			dp := point(metricCost)
			f, _ := s.cost.Float64()
			dp.SetDoubleValue(f)
			if s.exemplar && s.exHasCost {
				ex := dp.Exemplars().AppendEmpty()
				ex.SetTraceID(s.exTrace)
				ex.SetSpanID(s.exSpan)
				ex.SetTimestamp(s.exTime)
				ex.SetDoubleValue(s.exCost)
			}
		}
		if s.hasRev {
			f, _ := s.revenue.Float64()
			point(metricRevenue).SetDoubleValue(f)
		}
		s.exemplar = false
	}
	// Idle since at least expiry: the overflow series too, by the same rule, so
	// an overflow series that received a call in the period never expires.
	idle := func(s *series) bool { return c.expiry > 0 && now >= s.lastCall && now-s.lastCall >= c.expiry }
	for k, s := range c.series {
		emit(s)
		if idle(s) {
			delete(c.series, k) // deleting the current key inside range is defined
			if !s.tenantOvf {
				if c.tenantSeries[s.tenant]--; c.tenantSeries[s.tenant] == 0 {
					delete(c.tenantSeries, s.tenant)
				}
			}
			expired++
		}
	}
	if c.overflow != nil {
		emit(c.overflow)
		if idle(c.overflow) {
			c.overflow = nil
			expired++
		}
	}
	// A metric without data points (no revenue yet) is not emitted.
	sm.Metrics().RemoveIf(func(m pmetric.Metric) bool { return m.Sum().DataPoints().Len() == 0 })
	if c.delta {
		dropped = int64(n)
		clear(c.series)
		clear(c.tenantSeries)
		c.overflow = nil
	}
	c.lastFlush = now
	return md, n, dropped, expired
}
