package genaicostprocessor

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
)

// meteredBefore are the genaimeter.* attributes an earlier metering left on a
// span: a priced call of tenant acme with every optional field set (who made
// it, the catalog's answer, cost, revenue and credits, tier, plan, price reference,
// reported cost, audio and 1h cache counts). A replayed span, or one passing
// a second genai_cost, arrives with them.
var meteredBefore = map[string]any{
	usage.AttrTenantID: "acme", usage.AttrUserID: "u-1", usage.AttrSessionID: "s-1", usage.AttrFeature: "search",
	usage.AttrProvider: "openai", usage.AttrOperation: "chat",
	usage.AttrRequestModel: "gpt-4o", usage.AttrResponseModel: "gpt-4o-2024-08-06",
	usage.AttrCatalogProvider: "openai", usage.AttrCatalogModel: "gpt-4o",
	usage.AttrInputTokens: int64(4100), usage.AttrOutputTokens: int64(730), usage.AttrCacheReadTokens: int64(100),
	usage.AttrCacheWriteTokens: int64(50), usage.AttrReasoningTokens: int64(20), usage.AttrInputAudioTokens: int64(7),
	usage.AttrOutputAudioTokens: int64(8), usage.AttrCacheWrite1hTokens: int64(9),
	usage.AttrCostUSD: "0.01755", usage.AttrReportedCostUSD: "0.0175", usage.AttrCostReconciliation: "within_tolerance",
	usage.AttrCostSource: "catalog", usage.AttrRevenueUSD: "0.03", usage.AttrCredits: "3", usage.AttrPriceRef: "genai-prices@stale",
	usage.AttrServiceTier: "priority", usage.AttrPlan: "enterprise", usage.AttrTokenConvention: "openai",
	usage.AttrPricingStatus: usage.StatusPriced, usage.AttrCompletion: "complete", usage.AttrPricingDetail: "stale note",
	usage.AttrBillable: true, usage.AttrBillableReason: "default",
}

// TestRemeteredSpanKeepsNoStaleMeter meters, with the default configuration,
// spans that carry meteredBefore, once with a model the catalog does not know
// and once with its usage gone, and checks their exact attributes: every
// genaimeter.* value comes from this metering (no stale cost, catalog model,
// revenue, tier, plan, price reference, ...), the unpriced and invalid flags
// are right, and the span's own attributes are untouched.
func TestRemeteredSpanKeepsNoStaleMeter(t *testing.T) {
	with := func(call map[string]any) map[string]any {
		m := map[string]any{"keep.me": "yes"}
		for k, v := range meteredBefore {
			m[k] = v
		}
		for k, v := range call {
			m[k] = v
		}
		return m
	}
	unknown := map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-unknown-9",
		"gen_ai.usage.input_tokens": int64(4100), "gen_ai.usage.output_tokens": int64(730), "tenant.id": "globex",
	}
	noUsage := map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"tenant.id": "globex",
	}
	invalid := map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": int64(-5), "gen_ai.usage.output_tokens": int64(730), "tenant.id": "globex",
	}
	cases := []billingCase{
		{name: "unknown model", attrs: with(unknown)},
		{name: "usage removed", attrs: with(noUsage)},
		{name: "invalid", attrs: with(invalid)},
	}
	// What this metering writes, on a span metered before or not.
	meter := map[string]map[string]any{
		"unknown model": {
			usage.AttrTenantID: "globex", usage.AttrProvider: "openai", usage.AttrOperation: "chat",
			usage.AttrRequestModel: "gpt-unknown-9", usage.AttrCompletion: "unknown",
			usage.AttrInputTokens: int64(4100), usage.AttrOutputTokens: int64(730), usage.AttrCacheReadTokens: int64(0),
			usage.AttrCacheWriteTokens: int64(0), usage.AttrReasoningTokens: int64(0),
			usage.AttrTokenConvention: "inclusive", usage.AttrCostReconciliation: "none",
			usage.AttrPricingStatus: usage.StatusUnpriced, usage.AttrPricingDetail: `model "gpt-unknown-9" not found for provider "openai"`,
			usage.AttrBillable: true, usage.AttrBillableReason: "default",
		},
		"usage removed": {
			usage.AttrTenantID: "globex", usage.AttrProvider: "openai", usage.AttrOperation: "chat",
			usage.AttrRequestModel: "gpt-4o", usage.AttrCompletion: "unknown",
			usage.AttrInputTokens: int64(0), usage.AttrOutputTokens: int64(0), usage.AttrCacheReadTokens: int64(0),
			usage.AttrCacheWriteTokens: int64(0), usage.AttrReasoningTokens: int64(0), usage.AttrCostReconciliation: "none",
			usage.AttrPricingStatus: usage.StatusNoUsage, usage.AttrPricingDetail: "the span reports no token usage",
			usage.AttrBillable: true, usage.AttrBillableReason: "default",
		},
		"invalid": {
			usage.AttrTenantID: "globex", usage.AttrProvider: "openai", usage.AttrOperation: "chat",
			usage.AttrRequestModel: "gpt-4o",
			usage.AttrInputTokens:  int64(0), usage.AttrOutputTokens: int64(0), usage.AttrCacheReadTokens: int64(0),
			usage.AttrCacheWriteTokens: int64(0), usage.AttrReasoningTokens: int64(0), usage.AttrInputAudioTokens: int64(0),
			usage.AttrOutputAudioTokens: int64(0), usage.AttrCacheWrite1hTokens: int64(0),
			usage.AttrPricingStatus: usage.StatusInvalidUsage,
			usage.AttrPricingDetail: "gen_ai.usage.input_tokens: token count must be >= 0, got -5",
			usage.AttrBillable:      false, usage.AttrBillableReason: usage.StatusInvalidUsage,
		},
	}
	calls := map[string]map[string]any{"unknown model": unknown, "usage removed": noUsage, "invalid": invalid}
	p, sink := newTestProcessor(t, createDefaultConfig().(*Config), nil)
	require.NoError(t, p.ConsumeTraces(context.Background(), billingBatch(cases)))
	out := sink.AllTraces()[0]
	for i, c := range cases {
		want := map[string]any{"keep.me": "yes"}
		for k, v := range calls[c.name] {
			want[k] = v
		}
		for k, v := range meter[c.name] {
			want[k] = v
		}
		assert.Equal(t, want, outSpan(out, i), c.name)
	}

	// A span never metered gets the same genaimeter.* attributes: the
	// expectations above are this metering's, not an artefact of the replay.
	fresh := make([]billingCase, len(cases))
	for i, c := range cases {
		fresh[i] = billingCase{name: c.name, attrs: calls[c.name]}
	}
	require.NoError(t, p.ConsumeTraces(context.Background(), billingBatch(fresh)))
	out = sink.AllTraces()[1]
	for i, c := range cases {
		want := map[string]any{}
		for k, v := range calls[c.name] {
			want[k] = v
		}
		for k, v := range meter[c.name] {
			want[k] = v
		}
		assert.Equal(t, want, outSpan(out, i), c.name+" (never metered)")
	}
}

// TestWriteMeterSizesTheAttributesOnce: writeMeter's count of its writes,
// by which it grows a span's attributes once, is the number of attributes it
// writes on a fresh span, whatever the metering: priced with every optional
// value, priced with none, unpriced, no usage, invalid.
func TestWriteMeterSizesTheAttributesOnce(t *testing.T) {
	full := genaiconv.Call{Provider: "openai", Operation: "chat", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06",
		Completion: genaiconv.CompletionComplete, TokenConvention: "semconv", ReportedCost: "0.01",
		Usage: genaiconv.Usage{Reported: true, Input: 10, Output: 5, CacheRead: 1, CacheWrite: 2, Reasoning: 3, InputAudio: 4, OutputAudio: 5, CacheWrite1h: 1}}
	everything := metered{id: ancestry.Identity{"acme", "u-1", "s-1", "search"}, status: usage.StatusPriced, detail: "a note",
		costSource: usage.CostSourceCatalog, reconciliation: usage.ReconcileMatches, tier: "flex", priceRef: "ref",
		plan: "pro", revenue: "0.02", credits: "2"}
	everything.priced.ProviderID, everything.priced.ModelID = "openai", "gpt-4o"
	for name, c := range map[string]struct {
		call genaiconv.Call
		m    metered
	}{
		"priced, everything": {full, everything},
		"priced, nothing optional": {genaiconv.Call{Usage: genaiconv.Usage{Reported: true}},
			metered{status: usage.StatusPriced, reconciliation: usage.ReconcileNone}},
		"unpriced":            {full, metered{id: ancestry.Identity{"acme"}, status: usage.StatusUnpriced, detail: "unknown model"}},
		"no usage":            {genaiconv.Call{Provider: "openai"}, metered{status: usage.StatusNoUsage}},
		"invalid":             {genaiconv.Call{Provider: "openai", Invalid: "negative count"}, metered{status: statusInvalid}},
		"invalid, everything": {full, metered{id: everything.id, status: statusInvalid}},
	} {
		count := meterWriter{counting: true}
		count.meter(&c.call, &c.m, "0.01755")
		attrs := pcommon.NewMap()
		writeMeter(attrs, &c.call, &c.m, func() *decision { return &decision{billable: true, reason: "default"} })
		assert.Equal(t, attrs.Len(), count.n, name)
	}
}
