package genaicostprocessor

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

// TestInvalidCallsAreRecordedNotSkipped (issue 11 items 3 and 4): a call with
// a negative, NaN or non-numeric token count, a count above
// limits.max_token_count, or a time that cannot be right is recorded with
// pricing_status invalid_usage and the reason, no cost, no usage and not
// billable, under its tenant and model; the rest of the batch is priced.
// Before, such spans were skipped (no pricing status: no record at all), and
// counts above the bound were priced.
func TestInvalidCallsAreRecordedNotSkipped(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	// No holding (wait 0): every call is metered in its batch.
	_, p, sink, clock := newHoldingProcessor(t, tel, func(c *Config) { c.Attribution.Ancestors.Wait = 0 })
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	now := clock.now()

	call := func(in, out any) map[string]any {
		return map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.usage.input_tokens": in, "gen_ai.usage.output_tokens": out, "tenant.id": "t1",
		}
	}
	td := spanBatch(
		call(4100, 730),               // 0: good
		call(-5, 730),                 // 1: negative
		call(math.NaN(), 730),         // 2: NaN
		call(10, "many"),              // 3: not a number
		call(int64(math.MaxInt64), 1), // 4: 2^63-1, above the bound
		call(1_000_000_000_001, 1),    // 5: just above 10^12
		call(1_000_000_000_000, 0),    // 6: at the bound: priced
		call(100, 10),                 // 7: ends before it starts
		call(100, 10),                 // 8: no time at all
		call(100, 10),                 // 9: ends two days from now
		call(100, 10),                 // 10: ends 23 hours from now: clock drift, priced
	)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	ts := pcommon.NewTimestampFromTime
	spans.At(7).SetStartTimestamp(ts(now.Add(-time.Hour)))
	spans.At(7).SetEndTimestamp(ts(now.Add(-2 * time.Hour)))
	spans.At(8).SetEndTimestamp(0)
	spans.At(9).SetEndTimestamp(ts(now.Add(48 * time.Hour)))
	spans.At(10).SetEndTimestamp(ts(now.Add(23 * time.Hour)))
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	out := sink.AllTraces()[0]

	for i, want := range map[int]string{
		1: "gen_ai.usage.input_tokens: token count must be >= 0, got -5",
		2: "gen_ai.usage.input_tokens: token count must be an integer, got NaN",
		3: `gen_ai.usage.output_tokens: token count must be an integer, got "many"`,
		4: "input tokens: token count 9223372036854775807 above limits.max_token_count 1000000000000",
		5: "input tokens: token count 1000000000001 above limits.max_token_count 1000000000000",
		7: "time: the span ends (2026-11-01T10:00:00Z) before it starts (2026-11-01T11:00:00Z); reported usage: input 100, output 10, cache read 0, cache write 0, reasoning 0",
		8: "time: the span has neither a start nor an end time; reported usage: input 100, output 10, cache read 0, cache write 0, reasoning 0",
		9: "time: the span ends at 2026-11-03T12:00:00Z, more than 24h0m0s after the collector's clock (2026-11-01T12:00:00Z); reported usage: input 100, output 10, cache read 0, cache write 0, reasoning 0",
	} {
		got := spanAttrs(out, i)
		delete(got, usage.AttrCompletion) // judged from the span alone, as for any call
		for k := range got {
			if !strings.HasPrefix(k, usage.Prefix) {
				delete(got, k)
			}
		}
		assert.Equal(t, map[string]any{
			usage.AttrTenantID: "t1", usage.AttrProvider: "openai", usage.AttrOperation: "chat", usage.AttrRequestModel: "gpt-4o",
			usage.AttrInputTokens: int64(0), usage.AttrOutputTokens: int64(0), usage.AttrCacheReadTokens: int64(0),
			usage.AttrCacheWriteTokens: int64(0), usage.AttrReasoningTokens: int64(0), usage.AttrInputAudioTokens: int64(0),
			usage.AttrOutputAudioTokens: int64(0), usage.AttrCacheWrite1hTokens: int64(0),
			usage.AttrPricingStatus: usage.StatusInvalidUsage, usage.AttrPricingDetail: want,
			usage.AttrBillable: false, usage.AttrBillableReason: "invalid_usage",
		}, got, "span %d", i)
	}
	for _, i := range []int{0, 6, 10} {
		g := spanAttrs(out, i)
		assert.Equal(t, usage.StatusPriced, g[usage.AttrPricingStatus], "span %d", i)
		assert.Equal(t, true, g[usage.AttrBillable], "span %d", i)
	}
	assert.Equal(t, "0.01755", spanAttrs(out, 0)[usage.AttrCostUSD])
	assert.Equal(t, "2500000", spanAttrs(out, 6)[usage.AttrCostUSD], "10^12 input tokens at $2.50 per million")

	metadatatest.AssertEqualProcessorGenaiCostCallsInvalid(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("reason", "invalid_token_count")), Value: 3},
		{Attributes: attribute.NewSet(attribute.String("reason", "token_count_above_bound")), Value: 2},
		{Attributes: attribute.NewSet(attribute.String("reason", "invalid_time")), Value: 3},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorGenaiCostCalls(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("pricing_status", "priced")), Value: 3},
		{Attributes: attribute.NewSet(attribute.String("pricing_status", "invalid_usage")), Value: 8},
	}, metricdatatest.IgnoreTimestamp())
}

func TestLimitsValidate(t *testing.T) {
	for v, want := range map[int64]string{
		0:                    "limits.max_token_count: must be between 1 and 2305843009213693952, got 0",
		-1:                   "limits.max_token_count: must be between 1 and 2305843009213693952, got -1",
		math.MaxInt64:        "limits.max_token_count: must be between 1 and 2305843009213693952, got 9223372036854775807",
		1:                    "",
		maxTokenCountLimit:   "",
		defaultMaxTokenCount: "",
	} {
		cfg := createDefaultConfig().(*Config)
		cfg.Limits.MaxTokenCount = v
		if want == "" {
			assert.NoError(t, cfg.Validate())
		} else {
			assert.EqualError(t, cfg.Validate(), want)
		}
	}
}
