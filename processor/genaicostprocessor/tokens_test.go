package genaicostprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

// scopedBatch is a one-span batch under an instrumentation scope, ended at
// 2026-11-01T12:00Z (the time of the reference figures in
// internal/pricing/testdata/reference/cases.jsonl).
func scopedBatch(scope string, attrs map[string]any) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(scope)
	s := ss.Spans().AppendEmpty()
	s.SetName("chat")
	s.SetTraceID(pcommon.TraceID{7})
	s.SetSpanID(pcommon.SpanID{7})
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)))
	_ = s.Attributes().FromRaw(attrs)
	return td
}

func meterOne(t *testing.T, cfg *Config, td ptrace.Traces) map[string]any {
	t.Helper()
	cfg.Attribution.Ancestors.Wait = 0
	p, sink := newTestProcessor(t, cfg, nil)
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	require.Len(t, sink.AllTraces(), 1)
	return spanAttrs(sink.AllTraces()[0], 0)
}

// TestAudioTokensPricedAtTheirRate: a realtime call reports the audio parts
// of its input and output (semconv per-modality counts); each part is priced
// at the audio rate, the rest at the text rate, exactly as
// @pydantic/genai-prices prices it (reference case gpt-realtime, 0.048).
func TestAudioTokensPricedAtTheirRate(t *testing.T) {
	a := meterOne(t, createDefaultConfig().(*Config), scopedBatch("opentelemetry.instrumentation.openai_v2", map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-realtime",
		"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 500,
		"gen_ai.usage.audio.input_tokens": 600, "gen_ai.usage.audio.output_tokens": 400,
		"tenant.id": "acme",
	}))
	// gpt-realtime: input 4, input audio 32, output 16, output audio 64 USD/Mtok.
	//   text input   (1000 - 600) × 4 / 1e6 = 0.0016
	//   audio input          600 × 32 / 1e6 = 0.0192
	//   text output   (500 - 400) × 16 / 1e6 = 0.0016
	//   audio output         400 × 64 / 1e6 = 0.0256
	//   total                                 = 0.048
	// (priced as text it would be 1000 × 4 + 500 × 16 = 0.012)
	assert.Equal(t, "0.048", a[usage.AttrCostUSD])
	assert.Equal(t, int64(600), a[usage.AttrInputAudioTokens])
	assert.Equal(t, int64(400), a[usage.AttrOutputAudioTokens])
	assert.NotContains(t, a, usage.AttrCacheWrite1hTokens, "a 0 count is not written (the record reads it as 0)")
	assert.Equal(t, usage.CostSourceCatalog, a[usage.AttrCostSource])
	assert.Equal(t, usage.ReconcileNone, a[usage.AttrCostReconciliation])
}

// TestExclusiveEmitterWith1hCacheWrites: OpenLIT writes Anthropic's raw
// input count, which excludes cache reads and writes (the built-in table says
// so); the meter adds them back, and prices the 1-hour part of the cache
// writes at its own rate, as @pydantic/genai-prices does (reference case
// claude-opus-4-1, 0.183).
func TestExclusiveEmitterWith1hCacheWrites(t *testing.T) {
	a := meterOne(t, createDefaultConfig().(*Config), scopedBatch("openlit.otel.tracing", map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-opus-4-1",
		"telemetry.sdk.name":        "openlit",
		"gen_ai.usage.input_tokens": 5000, "gen_ai.usage.output_tokens": 500,
		"gen_ai.usage.cache_read.input_tokens": 2000, "gen_ai.usage.cache_creation.input_tokens": 3000,
		"gen_ai.usage.cache_creation.ephemeral_1h_input_tokens": 1000,
		"tenant.id": "acme",
	}))
	// Input 5000 raw + 2000 read + 3000 written = 10000 in semconv meaning.
	// claude-opus-4-1: input 15, cache read 1.5, cache write 18.75, cache
	// write 1h 30, output 75 USD/Mtok.
	//   uncached input  5000 × 15    / 1e6 = 0.075
	//   cache read      2000 × 1.5   / 1e6 = 0.003
	//   5m cache write  2000 × 18.75 / 1e6 = 0.0375
	//   1h cache write  1000 × 30    / 1e6 = 0.03
	//   output           500 × 75    / 1e6 = 0.0375
	//   total                               = 0.183
	// (read as inclusive it would be 0.1155; 1h at the 5m rate 0.17175)
	assert.Equal(t, "0.183", a[usage.AttrCostUSD])
	assert.Equal(t, "exclusive", a[usage.AttrTokenConvention])
	assert.Equal(t, int64(10000), a[usage.AttrInputTokens])
	assert.Equal(t, int64(3000), a[usage.AttrCacheWriteTokens])
	assert.Equal(t, int64(1000), a[usage.AttrCacheWrite1hTokens])
}

// TestResponseServiceTierPrices: the tier the provider says it served
// prices the call, not the one asked for (a priority request served at
// default is charged the standard price; a default request served flex the
// flex price).
func TestResponseServiceTierPrices(t *testing.T) {
	cat := writeTemp(t, "tiers.yaml", `version: tiers-1
models:
  - provider: openai
    model: gpt-4.1
    prices:
      input_mtok: 2
      output_mtok: 8
      service_tiers:
        flex: {input_mtok: 1, output_mtok: 4}
        priority: {input_mtok: 3.5, output_mtok: 14}
`)
	for name, tc := range map[string]struct {
		attrs      map[string]any
		cost, tier string
	}{
		// 1 Mtok in and out: 2 + 8
		"priority asked, default served": {map[string]any{"openai.request.service_tier": "priority", "openai.response.service_tier": "default"}, "10", ""},
		"default asked, flex served":     {map[string]any{"openai.request.service_tier": "default", "openai.response.service_tier": "flex"}, "5", "flex"},
		"priority asked, no response":    {map[string]any{"openai.request.service_tier": "priority"}, "17.5", "priority"},
		"deprecated names":               {map[string]any{"gen_ai.openai.request.service_tier": "priority", "gen_ai.openai.response.service_tier": "default"}, "10", ""},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Pricing.Sources = []SourceConfig{{Format: "genaimeter", Path: cat}}
			attrs := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4.1",
				"gen_ai.usage.input_tokens": 1000000, "gen_ai.usage.output_tokens": 1000000}
			for k, v := range tc.attrs {
				attrs[k] = v
			}
			a := meterOne(t, cfg, scopedBatch("x", attrs))
			assert.Equal(t, tc.cost, a[usage.AttrCostUSD])
			tier, _ := a[usage.AttrServiceTier].(string)
			assert.Equal(t, tc.tier, tier)
		})
	}
}

// TestReportedCostReconciliation: the cost a span reports is kept, compared
// with ours within the tolerance (matches, differs, none) and counted when it
// differs; it is billed instead of ours only for a trusted provider, and the
// record then says so.
func TestReportedCostReconciliation(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = 0
	cfg.Pricing.ReportedCost = ReportedCostConfig{Tolerance: "0.0001", TrustProviders: []string{"OpenRouter"}}
	require.NoError(t, cfg.Validate())
	p, sink := newTestProcessor(t, cfg, tel)

	call := func(provider, model string, reported any) map[string]any {
		m := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
			"gen_ai.usage.input_tokens": 4100, "gen_ai.usage.output_tokens": 730}
		if reported != nil {
			m["gen_ai.usage.cost"] = reported
		}
		return m
	}
	// gpt-4o: 4100 × 2.5 / 1e6 + 730 × 10 / 1e6 = 0.01025 + 0.0073 = 0.01755
	require.NoError(t, p.ConsumeTraces(context.Background(), spanBatch(
		call("openai", "gpt-4o", 0.01758),              // 0.00003 apart: matches
		call("openai", "gpt-4o", "0.0177"),             // 0.00015 apart: differs
		call("openai", "gpt-4o", nil),                  // nothing to compare
		call("openrouter", "openai/gpt-4o", "0.02"),    // trusted: billed at 0.02
		call("openrouter", "no-such-model", "0.00042"), // trusted, not in the catalog: billed at 0.00042
		call("openrouter", "openai/gpt-4o", nil),       // trusted but reports nothing: catalog price, said
	)))
	out := sink.AllTraces()[0]
	type rec struct{ cost, reported, reconciliation, source, status, detail string }
	get := func(i int) rec {
		a := spanAttrs(out, i)
		s := func(k string) string { v, _ := a[k].(string); return v }
		return rec{s(usage.AttrCostUSD), s(usage.AttrReportedCostUSD), s(usage.AttrCostReconciliation), s(usage.AttrCostSource),
			s(usage.AttrPricingStatus), s(usage.AttrPricingDetail)}
	}
	assert.Equal(t, rec{"0.01755", "0.01758", "matches", "catalog", "priced", ""}, get(0))
	assert.Equal(t, rec{"0.01755", "0.0177", "differs", "catalog", "priced", ""}, get(1))
	assert.Equal(t, rec{"0.01755", "", "none", "catalog", "priced", ""}, get(2))
	assert.Equal(t, rec{"0.02", "0.02", "differs", "reported", "priced",
		"cost_usd is the cost provider openrouter reported (pricing.reported_cost.trust_providers); catalog price 0.01755"}, get(3))
	assert.Equal(t, rec{"0.00042", "0.00042", "none", "reported", "priced",
		"cost_usd is the cost provider openrouter reported (pricing.reported_cost.trust_providers); no catalog price"}, get(4))
	assert.Equal(t, rec{"0.01755", "", "none", "catalog", "priced",
		"provider openrouter is trusted for its reported cost (pricing.reported_cost.trust_providers) but the call reports none: catalog price charged"}, get(5))

	metadatatest.AssertEqualProcessorGenaiCostReportedCostDiffers(t, tel,
		[]metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

// TestInclusiveUnverifiedIsCounted: an Anthropic call with cache tokens from
// an emitter the table does not know is read as inclusive, marked
// inclusive_unverified on the record and counted, so that an emitter nobody
// verified is noticed before an invoice is.
func TestInclusiveUnverifiedIsCounted(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = 0
	p, sink := newTestProcessor(t, cfg, tel)
	require.NoError(t, p.ConsumeTraces(context.Background(), scopedBatch("acme-homegrown-llm-tracer", map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-opus-4-1",
		"gen_ai.usage.input_tokens": 10000, "gen_ai.usage.output_tokens": 500,
		"gen_ai.usage.cache_read.input_tokens": 2000, "gen_ai.usage.cache_creation.input_tokens": 3000,
	})))
	a := spanAttrs(sink.AllTraces()[0], 0)
	assert.Equal(t, "inclusive_unverified", a[usage.AttrTokenConvention])
	assert.Equal(t, int64(10000), a[usage.AttrInputTokens], "read as inclusive: nothing added")
	metadatatest.AssertEqualProcessorGenaiCostCallsInclusiveUnverified(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("provider", "anthropic")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}
