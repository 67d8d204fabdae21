package genaicostprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestCreditsOnTheSpan: a call charged by a rate card in credits carries its
// exact credits (the card's rates, before usd_per_credit) beside its revenue;
// a card in USD gives no credits attribute, and an invalid call none either.
func TestCreditsOnTheSpan(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Pricing.Revenue = RevenueConfig{
		Default: &RateCardConfig{Rates: map[string]string{"input_mtok": "3", "output_mtok": "15"}, USDPerCredit: "0.0125"},
		Tenants: map[string]RateCardConfig{"acme": {MarkupPercent: "25"}},
	}
	cfg.Attribution.Ancestors.Wait = 0
	require.NoError(t, cfg.Validate())
	p, sink := newTestProcessor(t, cfg, nil)
	day := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	td := pricingBatch(day,
		map[string]any{"gen_ai.request.model": "gpt-4o", "tenant.id": "globex"},
		map[string]any{"gen_ai.request.model": "gpt-4o", "tenant.id": "acme"},
		map[string]any{"gen_ai.request.model": "gpt-4o", "tenant.id": "globex"},
	)
	spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	// 1,234,567 input and 89 output tokens: (1234567×3 + 89×15)/1e6 credits.
	spans.At(0).Attributes().PutInt("gen_ai.usage.input_tokens", 1234567)
	spans.At(0).Attributes().PutInt("gen_ai.usage.output_tokens", 89)
	spans.At(2).Attributes().PutInt("gen_ai.usage.input_tokens", -5) // invalid usage
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	require.Len(t, sink.AllTraces(), 1)
	got := pricedAttrs(sink.AllTraces()[0])
	require.Len(t, got, 3)

	assert.Equal(t, "3.705036", got[0][usage.AttrCredits], "1234567×3 + 89×15 = 3705036 credits per million tokens")
	assert.Equal(t, "0.04631295", got[0][usage.AttrRevenueUSD], "3.705036 credits × 0.0125 USD")
	assert.NotContains(t, got[1], usage.AttrCredits, "a markup card is in USD: no credits")
	assert.Contains(t, got[1], usage.AttrRevenueUSD)
	assert.Equal(t, usage.StatusInvalidUsage, got[2][usage.AttrPricingStatus])
	assert.NotContains(t, got[2], usage.AttrCredits)
}
