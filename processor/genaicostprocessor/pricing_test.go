package genaicostprocessor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

// pricingCall is one LLM call span for the pricing tests: 1,000,000 input
// and 1,000,000 output tokens, so that costs read as the prices per million.
func pricingBatch(at time.Time, calls ...map[string]any) ptrace.Traces {
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
	for i, extra := range calls {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{1, byte(i + 1)})
		s.SetSpanID(pcommon.SpanID{1, byte(i + 1)})
		s.SetName("chat")
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(at.Add(-time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(at))
		a := s.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.provider.name", "openai")
		a.PutInt("gen_ai.usage.input_tokens", 1000000)
		a.PutInt("gen_ai.usage.output_tokens", 1000000)
		for k, v := range extra {
			switch x := v.(type) {
			case string:
				a.PutStr(k, x)
			case bool:
				a.PutBool(k, x)
			}
		}
	}
	return td
}

func pricedAttrs(td ptrace.Traces) []map[string]any {
	var out []map[string]any
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	for i := 0; i < spans.Len(); i++ {
		out = append(out, spans.At(i).Attributes().AsRaw())
	}
	return out
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const contractYAML = `version: acme-1
models:
  - provider: acme-llm
    model: acme-7b
    prices: {input_mtok: 0.05, output_mtok: 0.1}
  - provider: openai
    model: gpt-4.1
    prices:
      - effective_to: 2025-07-01
        input_mtok: 1.9
        output_mtok: 7.6
      - effective_from: 2025-07-01
        input_mtok: 1.7
        output_mtok: 6.8
        service_tiers:
          flex: {input_mtok: 0.85, output_mtok: 3.4}
          batch: {input_mtok: 0.95, output_mtok: 3.8}
discounts:
  - provider: openai
    model: gpt-4o
    percent: 10
`

// TestRevenueAndPriceRef: layered sources, a dated contract price (the day
// before the change at the old price), service tiers from the span and the
// batch marker, aliases, and revenue from the tenant's card, the plan's card
// and the default card — all exact, on the span.
func TestRevenueAndPriceRef(t *testing.T) {
	contract := writeTemp(t, "contract.yaml", contractYAML)
	cfg := createDefaultConfig().(*Config)
	cfg.Pricing = PricingConfig{
		Sources: []SourceConfig{
			{Format: "genai-prices", Path: "../../internal/pricing/genaiprices/data.json"},
			{Format: "genaimeter", Path: contract},
		},
		Aliases: map[string]string{"prod-writer": "gpt-4.1"},
		Batch:   BatchConfig{Attribute: "llm.batch"},
		Revenue: RevenueConfig{
			Default: &RateCardConfig{Rates: map[string]string{"input_mtok": "100", "output_mtok": "300"}, USDPerCredit: "0.01"},
			Plans:   map[string]RateCardConfig{"pro": {Rates: map[string]string{"input_mtok": "3", "output_mtok": "12"}}},
			Tenants: map[string]RateCardConfig{"acme": {MarkupPercent: "25"}},
		},
	}
	cfg.Billing.Plans.DefaultPlan = "pro"
	cfg.Attribution.Ancestors.Wait = 0
	require.NoError(t, cfg.Validate())
	p, sink := newTestProcessor(t, cfg, nil)

	day := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, p.ConsumeTraces(context.Background(), pricingBatch(day.Add(-time.Millisecond),
		map[string]any{"gen_ai.request.model": "gpt-4.1", "tenant.id": "acme"},
	)))
	require.NoError(t, p.ConsumeTraces(context.Background(), pricingBatch(day,
		map[string]any{"gen_ai.request.model": "gpt-4.1", "tenant.id": "acme"},
		map[string]any{"gen_ai.request.model": "gpt-4.1", "tenant.id": "globex", "openai.response.service_tier": "flex"},
		map[string]any{"gen_ai.request.model": "prod-writer", "tenant.id": "globex", "llm.batch": true},
		map[string]any{"gen_ai.request.model": "gpt-4o", "tenant.id": "acme", "gen_ai.openai.request.service_tier": "priority"},
		map[string]any{"gen_ai.request.model": "acme-7b", "gen_ai.provider.name": "", "tenant.id": "acme"},
		map[string]any{"gen_ai.request.model": "no-such-model", "tenant.id": "acme"},
		map[string]any{"gen_ai.request.model": "no-such-model", "tenant.id": "globex"},
	)))
	require.Len(t, sink.AllTraces(), 2)
	got := append(pricedAttrs(sink.AllTraces()[0]), pricedAttrs(sink.AllTraces()[1])...)
	contractRef := contract + "@acme-1"
	list, _, err := pricing.Source{Format: "genai-prices", Path: "../../internal/pricing/genaiprices/data.json"}.Load(context.Background())
	require.NoError(t, err)
	listRef := "../../internal/pricing/genaiprices/data.json@" + list.Version()
	want := []struct{ cost, revenue, ref, tier, detail string }{
		// the day before the change: old price 1.9 + 7.6; acme's card is a 25% markup
		{"9.5", "11.875", contractRef + "#openai/gpt-4.1[0]", "", ""},
		{"8.5", "10.625", contractRef + "#openai/gpt-4.1[1]", "", ""},
		// globex has no card of its own: plan pro's rates, 3 + 12
		{"4.25", "15", contractRef + "#openai/gpt-4.1[1]~flex", "flex", ""},
		{"4.75", "15", contractRef + "#openai/gpt-4.1[1]~batch", "batch", "model name: alias of prod-writer"},
		// no priority price: standard, flagged; 10% contract discount on the list price (2.5 + 10) × 0.9
		{"11.25", "14.0625", listRef + "#openai/gpt-4o " + contractRef + "#discount[0]", "priority",
			"service tier priority has no price in the catalog entry: standard price charged"},
		{"0.15", "0.1875", contractRef + "#acme-llm/acme-7b", "", ""},
		// unpriced: no cost, so no markup revenue; rates do not need the cost
		{"", "", "", "", `model "no-such-model" not found for provider "openai" (nor in the 1 other price sources)`},
		{"", "15", "", "", `model "no-such-model" not found for provider "openai" (nor in the 1 other price sources)`},
	}
	require.Len(t, got, len(want))
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	for i, w := range want {
		a := got[i]
		assert.Equal(t, w.cost, str(a, usage.AttrCostUSD), "call %d cost", i)
		assert.Equal(t, w.revenue, str(a, usage.AttrRevenueUSD), "call %d revenue", i)
		assert.Equal(t, w.ref, str(a, usage.AttrPriceRef), "call %d ref", i)
		assert.Equal(t, w.tier, str(a, usage.AttrServiceTier), "call %d tier", i)
		assert.Equal(t, w.detail, str(a, usage.AttrPricingDetail), "call %d detail", i)
	}
}

// TestCatalogRefreshHTTP: an HTTP source serves v1; a broken file keeps v1
// (failure logged and counted); v2 is swapped in without a restart. The
// refresh loop itself runs (a short interval set past Validate).
func TestCatalogRefreshHTTP(t *testing.T) {
	v1 := "version: v1\nmodels:\n  - {provider: acme-llm, model: acme-7b, prices: {input_mtok: 1, output_mtok: 2}}\n"
	v2 := "version: v2\nmodels:\n  - {provider: acme-llm, model: acme-7b, prices: {input_mtok: 1.5, output_mtok: 2}}\n"
	broken := "version: v3\nmodels:\n  - {provider: acme-llm, model: acme-7b, prices: {input_mtok: -1}}\n"
	var body atomic.Value
	body.Store(v1)
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()

	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = 0
	cfg.Pricing.Sources = []SourceConfig{{Format: "genaimeter", URL: srv.URL + "/prices.yaml", RefreshInterval: 20 * time.Millisecond}}
	p, sink := newTestProcessor(t, cfg, tel)

	price := func() (string, string) {
		sink.Reset()
		require.NoError(t, p.ConsumeTraces(context.Background(), pricingBatch(time.Now(), map[string]any{"gen_ai.request.model": "acme-7b", "gen_ai.provider.name": "acme-llm"})))
		a := pricedAttrs(sink.AllTraces()[0])[0]
		return a[usage.AttrCostUSD].(string), a[usage.AttrPriceRef].(string)
	}
	refresh := func(v string) {
		body.Store(v)
		n := hits.Load()
		require.Eventually(t, func() bool { return hits.Load() >= n+2 }, 5*time.Second, 5*time.Millisecond)
	}
	cost, ref := price()
	assert.Equal(t, "3", cost)
	assert.Equal(t, srv.URL+"/prices.yaml@v1#acme-llm/acme-7b", ref)

	refresh(broken)
	cost, ref = price()
	assert.Equal(t, "3", cost, "a broken refresh keeps the last good catalog")
	assert.Equal(t, srv.URL+"/prices.yaml@v1#acme-llm/acme-7b", ref)

	refresh(v2)
	require.Eventually(t, func() bool { c, _ := price(); return c == "3.5" }, 5*time.Second, 10*time.Millisecond)
	_, ref = price()
	assert.Equal(t, srv.URL+"/prices.yaml@v2#acme-llm/acme-7b", ref)

	// Failures and successes were counted (at least two each: the loop keeps running).
	m, err := tel.GetMetric("otelcol_processor_genai_cost_catalog_refreshes")
	require.NoError(t, err)
	counts := map[string]int64{}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		o, _ := dp.Attributes.Value(attribute.Key("outcome"))
		counts[o.AsString()] = dp.Value
	}
	assert.GreaterOrEqual(t, counts["failure"], int64(2), "%v", counts)
	assert.GreaterOrEqual(t, counts["success"], int64(1), "%v", counts)
}

// TestCatalogRefreshCounts drives refresh by hand for exact counts.
func TestCatalogRefreshCounts(t *testing.T) {
	path := writeTemp(t, "p.yaml", "models:\n  - {provider: acme-llm, model: m, prices: {input_mtok: 1}}\n")
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	cfg := createDefaultConfig().(*Config)
	cfg.Pricing.Sources = []SourceConfig{{Format: "genaimeter", Path: path}}
	pr, err := newPricer(&cfg.Pricing, zap.NewNop(), func(bool) {})
	require.NoError(t, err)
	first := pr.live.Book()
	var outcomes []bool
	pr.onRefresh = func(ok bool) { outcomes = append(outcomes, ok) }
	pr.live.Refresh(context.Background(), 0) // unchanged: success, same book
	assert.Same(t, first, pr.live.Book())
	require.NoError(t, os.WriteFile(path, []byte("models: [oops"), 0o600))
	pr.live.Refresh(context.Background(), 0)
	assert.Same(t, first, pr.live.Book())
	require.NoError(t, os.WriteFile(path, []byte("models:\n  - {provider: acme-llm, model: m, prices: {input_mtok: 2}}\n"), 0o600))
	pr.live.Refresh(context.Background(), 0)
	assert.NotSame(t, first, pr.live.Book())
	assert.Equal(t, []bool{true, false, true}, outcomes)
	pr.shutdown()
	pr.shutdown() // idempotent
}

// TestStartRefusesBadCatalog: the processor does not start on a catalog
// that lint rejects, and says where the problems are.
func TestStartRefusesBadCatalog(t *testing.T) {
	path := writeTemp(t, "bad.yaml", "models:\n  - provider: openai\n    model: x\n    prices: {input_mtok: -1, teleport_mtok: 1}\n")
	cfg := createDefaultConfig().(*Config)
	cfg.Pricing.Sources = []SourceConfig{{Format: "genaimeter", Path: path}}
	require.NoError(t, cfg.Validate())
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, nil)
	require.NoError(t, err)
	err = p.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Equal(t, "genai_cost: loading prices: pricing.sources[0] "+path+
		`: 4:26: models[0] openai/x.prices.input_mtok: negative price "-1"; 4:30: models[0] openai/x.prices: unknown price key "teleport_mtok"`, err.Error())
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestPricingValidate(t *testing.T) {
	pc := PricingConfig{
		Sources: []SourceConfig{
			{Format: "litellm", Path: "a.json", URL: "https://x/y.json"},
			{Format: "genaimeter", URL: "ftp://x/y.yaml"},
			{Format: "litellm", URL: "https://x/y.json", RefreshInterval: time.Second},
		},
		Aliases: map[string]string{"dep": ""},
		Batch:   BatchConfig{Values: []string{"yes"}},
		Revenue: RevenueConfig{
			Plans:   map[string]RateCardConfig{"pro": {MarkupPercent: "x"}},
			Tenants: map[string]RateCardConfig{"acme": {Rates: map[string]string{"input_tokens": "1"}}},
		},
	}
	want := strings.Join([]string{
		`pricing.sources[0]: path "a.json" and url "https://x/y.json" are exclusive: give one`,
		`pricing.sources[1].url: "ftp://x/y.yaml" is not an http(s) URL`,
		`pricing.sources[2].refresh_interval: must be 0 (never) or >= 10s, got 1s`,
		`pricing.aliases: "dep" → "": both names must be non-empty`,
		`pricing.batch.values: set without pricing.batch.attribute`,
		`pricing.revenue.plans.pro: markup_percent: "x" is not a number`,
		`pricing.revenue.tenants.acme: rates.input_tokens: unknown price key`,
	}, "\n")
	err := pc.validate()
	require.Error(t, err)
	assert.Equal(t, want, err.Error())
}

// TestUnknownProviderSaysWhosePrice: a call naming a provider the catalog
// does not know, with a model it knows, is priced by the provider whose
// model_match accepts the model, and pricing_detail says so; a known
// provider, or none, adds no note (issue 11, item 12: the price was silently
// OpenAI's, pricing_detail empty).
func TestUnknownProviderSaysWhosePrice(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = 0
	require.NoError(t, cfg.Validate())
	p, sink := newTestProcessor(t, cfg, nil)
	at := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, p.ConsumeTraces(context.Background(), pricingBatch(at,
		map[string]any{"gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": "acme-gateway"},
		map[string]any{"gen_ai.request.model": "gpt-4o"},
		map[string]any{"gen_ai.request.model": "gpt-4o", "gen_ai.provider.name": ""},
	)))
	got := pricedAttrs(sink.AllTraces()[0])
	require.Len(t, got, 3)
	for i, detail := range []string{
		`provider "acme-gateway" is not in the catalog: priced by openai, whose model_match accepts "gpt-4o"`, "", "",
	} {
		assert.Equal(t, "12.5", got[i][usage.AttrCostUSD], "call %d", i)
		assert.Equal(t, "openai", got[i][usage.AttrCatalogProvider], "call %d", i)
		d, _ := got[i][usage.AttrPricingDetail].(string)
		assert.Equal(t, detail, d, "call %d", i)
	}
}
