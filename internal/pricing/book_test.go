package pricing

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/money"
)

func loadT(t testing.TB, format, path string) *Catalog {
	t.Helper()
	c, _, err := Source{Format: format, Path: path}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func bookT(t testing.TB, opts BookOptions, layers ...*Catalog) *Book {
	t.Helper()
	b, err := NewBook(layers, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type bookCase struct {
	name, provider, model, tier string
	at                          time.Time
	usage                       usageKV
	wantModel                   string // provider/model
	want                        string // cost, or "" with wantDetail
	wantRef, wantTier           string
	wantNote, wantDetail        string
	wantDiscount                string
}

func runBookCases(t *testing.T, b *Book, cases []bookCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := query(t, tc.provider, tc.model, tc.at, tc.usage)
			q.Tier = tc.tier
			var r Result
			b.Price(q, &r)
			if tc.want == "" {
				if r.Status == Priced || r.Detail != tc.wantDetail {
					t.Fatalf("got %s %q cost %s, want unpriced %q", r.Status, r.Detail, money.Format(&r.Cost), tc.wantDetail)
				}
				return
			}
			if r.Status != Priced {
				t.Fatalf("status %s: %s", r.Status, r.Detail)
			}
			if got := r.ProviderID + "/" + r.ModelID; got != tc.wantModel {
				t.Errorf("matched %s, want %s", got, tc.wantModel)
			}
			if got := money.Format(&r.Cost); got != tc.want || r.Cost.Text('f') != tc.want {
				t.Errorf("cost %s (%s), want %s", got, r.Cost.Text('f'), tc.want)
			}
			if tc.wantRef != "" && r.Ref != tc.wantRef {
				t.Errorf("ref %q, want %q", r.Ref, tc.wantRef)
			}
			if r.Tier != tc.wantTier || r.Normalized != tc.wantNote || r.DiscountRef != tc.wantDiscount {
				t.Errorf("tier %q note %q discount %q, want %q %q %q", r.Tier, r.Normalized, r.DiscountRef, tc.wantTier, tc.wantNote, tc.wantDiscount)
			}
		})
	}
}

// TestLiteLLM prices every kind of LiteLLM key of the fixture exactly:
// per-token (converted to per million by a decimal shift), cache read and
// creation (5 min and 1 h), reasoning, _above_Nk_tokens thresholds, batch
// and service tiers, per image and per second.
func TestLiteLLM(t *testing.T) {
	c := loadT(t, FormatLiteLLM, "testdata/litellm/prices.json")
	ref := "testdata/litellm/prices.json@" + c.Version()
	b := bookT(t, BookOptions{}, c)
	std := usageKV{"input_tokens": 4100, "output_tokens": 730}
	cached := usageKV{"input_tokens": 4100, "cache_read_tokens": 1000, "output_tokens": 730}
	reason := usageKV{"input_tokens": 10000, "cache_read_tokens": 2000, "output_tokens": 5000, "output_reasoning_tokens": 3000}
	claude := usageKV{"input_tokens": 250000, "cache_read_tokens": 10000, "cache_write_tokens": 20000, "cache_write_1h_tokens": 5000, "output_tokens": 1000}
	runBookCases(t, b, []bookCase{
		// (4100×2.5 + 730×10)/1e6
		{name: "per token", provider: "openai", model: "gpt-4o", at: t2025, usage: std, wantModel: "openai/gpt-4o", want: "0.01755", wantRef: ref + "#openai/gpt-4o"},
		// (3100×2.5 + 1000×1.25 + 730×10)/1e6
		{name: "cache read", provider: "openai", model: "gpt-4o", at: t2025, usage: cached, wantModel: "openai/gpt-4o", want: "0.0163"},
		// (4100×1.25 + 730×5)/1e6
		{name: "batch", provider: "openai", model: "gpt-4o", tier: "batch", at: t2025, usage: std, wantModel: "openai/gpt-4o", want: "0.008775", wantRef: ref + "#openai/gpt-4o~batch", wantTier: "batch"},
		// (3100×4.25 + 1000×2.125 + 730×17)/1e6
		{name: "priority", provider: "openai", model: "gpt-4o", tier: "Priority", at: t2025, usage: cached, wantModel: "openai/gpt-4o", want: "0.02771", wantTier: "priority"},
		// no flex price for gpt-4o: the standard price, Tier empty
		{name: "flex missing", provider: "openai", model: "gpt-4o", tier: "flex", at: t2025, usage: std, wantModel: "openai/gpt-4o", want: "0.01755"},
		{name: "default tier", provider: "openai", model: "gpt-4o", tier: "default", at: t2025, usage: std, wantModel: "openai/gpt-4o", want: "0.01755"},
		// (8000×2 + 2000×0.5 + 2000×8 + 3000×8)/1e6
		{name: "reasoning", provider: "openai", model: "o3", at: t2025, usage: reason, wantModel: "openai/o3", want: "0.057"},
		// flex reprices output: reasoning goes at the flex output price. (8000×1 + 2000×0.25 + 5000×4)/1e6
		{name: "flex reasoning", provider: "openai", model: "o3", tier: "flex", at: t2025, usage: reason, wantModel: "openai/o3", want: "0.0285", wantTier: "flex"},
		// "azure/gpt-4o" of provider azure is azure's gpt-4o: (4100×2.75 + 730×11)/1e6
		{name: "provider-prefixed key", provider: "azure.ai.openai", model: "gpt-4o", at: t2025, usage: std, wantModel: "azure/gpt-4o", want: "0.019305"},
		// past 200k input every bucket takes its threshold price; the 1h write has none:
		// (220000×6 + 10000×0.6 + 15000×7.5 + 5000×6 + 1000×22.5)/1e6
		{name: "above 200k with cache writes", provider: "anthropic", model: "claude-sonnet-4-5", at: t2025, usage: claude, wantModel: "anthropic/claude-sonnet-4-5", want: "1.491"},
		// (90000×3 + 10000×0.3 + 1000×15)/1e6
		{name: "below 200k", provider: "anthropic", model: "claude-sonnet-4-5", at: t2025, usage: usageKV{"input_tokens": 100000, "cache_read_tokens": 10000, "output_tokens": 1000}, wantModel: "anthropic/claude-sonnet-4-5", want: "0.288"},
		// (200000×2.5 + 1000×10)/1e6; vertex_ai-language-models is google
		{name: "above 128k", provider: "gcp.vertex_ai", model: "gemini-1.5-pro", at: t2025, usage: usageKV{"input_tokens": 200000, "output_tokens": 1000}, wantModel: "google/gemini-1.5-pro", want: "0.51"},
		{name: "at 128k", provider: "gcp.vertex_ai", model: "gemini-1.5-pro", at: t2025, usage: usageKV{"input_tokens": 128000, "output_tokens": 1000}, wantModel: "google/gemini-1.5-pro", want: "0.165"},
		// 3.125e-05 $/s = 0.1125 $/h: 120 s
		{name: "audio per second", provider: "gcp.vertex_ai", model: "gemini-1.5-pro", at: t2025, usage: usageKV{"input_tokens": 0, "audio_seconds": 120}, wantModel: "google/gemini-1.5-pro", want: "0.00375"},
		{name: "per image", provider: "openai", model: "dall-e-3", at: t2025, usage: usageKV{"output_images": 3}, wantModel: "openai/dall-e-3", want: "0.12"},
		{name: "per second", provider: "openai", model: "whisper-1", at: t2025, usage: usageKV{"input_seconds": 90}, wantModel: "openai/whisper-1", want: "0.009"},
		{name: "x_ai is xai", provider: "x_ai", model: "grok-3", at: t2025, usage: usageKV{"input_tokens": 1000, "output_tokens": 1000}, wantModel: "x-ai/grok-3", want: "0.018"},
		{name: "no provider searches all", provider: "", model: "grok-3", at: t2025, usage: usageKV{"input_tokens": 1000, "output_tokens": 1000}, wantModel: "x-ai/grok-3", want: "0.018"},
		{name: "embedding", provider: "openai", model: "text-embedding-3-small", at: t2025, usage: usageKV{"input_tokens": 1000000}, wantModel: "openai/text-embedding-3-small", want: "0.02"},
		// a per-image model asked to price tokens is not free
		{name: "tokens on a per-image model", provider: "openai", model: "dall-e-3", at: t2025, usage: usageKV{"input_tokens": 10}, wantDetail: "invalid usage: input_tokens = 10 has no price in this entry (it would be charged nothing)"},
		{name: "provider not in catalog", provider: "cohere", model: "gpt-4o", at: t2025, usage: std, wantDetail: `model "gpt-4o" not found: provider "cohere" is not in the catalog`},
	})
}

// TestNormalization: names as spans report them reach the catalog entry.
func TestNormalization(t *testing.T) {
	lite := loadT(t, FormatLiteLLM, "testdata/litellm/prices.json")
	bedrock, _, err := Parse(FormatNative, []byte(`models:
  - provider: aws
    model: claude-sonnet-4-5-20250929
    prices: {input_mtok: 3.3, output_mtok: 16.5}
`), "bedrock.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b := bookT(t, BookOptions{Aliases: map[string]string{"Prod-GPT4o-EastUS": "azure/gpt-4o", "support-bot": "o3"}}, lite, bedrock)
	std := usageKV{"input_tokens": 4100, "output_tokens": 730}
	m := usageKV{"input_tokens": 1000000, "output_tokens": 1000000}
	k100 := usageKV{"input_tokens": 100000, "output_tokens": 100000} // (100000×1.25 + 100000×5)/1e6
	runBookCases(t, b, []bookCase{
		{name: "provider prefix", provider: "openai", model: "openai/gpt-4o", at: t2025, usage: std, wantModel: "openai/gpt-4o", want: "0.01755", wantNote: "provider prefix openai/ removed"},
		{name: "prefix names the provider", provider: "litellm", model: "azure/gpt-4o", at: t2025, usage: std, wantModel: "azure/gpt-4o", want: "0.019305"}, // the catalog's own litellm routing
		{name: "azure deployment alias", provider: "azure.ai.openai", model: "prod-gpt4o-eastus", at: t2025, usage: std, wantModel: "azure/gpt-4o", want: "0.019305", wantNote: "alias of prod-gpt4o-eastus; provider prefix azure/ removed"},
		{name: "alias", provider: "openai", model: "support-bot", at: t2025, usage: m, wantModel: "openai/o3", want: "10", wantNote: "alias of support-bot"},
		{name: "bedrock cross-region id", provider: "aws.bedrock", model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", at: t2025, usage: m, wantModel: "aws/claude-sonnet-4-5-20250929", want: "19.8",
			wantNote: "Bedrock id us.anthropic.claude-sonnet-4-5-20250929-v1:0 read as claude-sonnet-4-5-20250929"},
		{name: "bedrock ARN", provider: "aws.bedrock", model: "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-5-20250929-v1:0", at: t2025, usage: m, wantModel: "aws/claude-sonnet-4-5-20250929", want: "19.8",
			wantNote: "Bedrock id eu.anthropic.claude-sonnet-4-5-20250929-v1:0 read as claude-sonnet-4-5-20250929"},
		{name: "vertex version", provider: "gcp.vertex_ai", model: "gemini-1.5-pro@001", at: t2025, usage: k100, wantModel: "google/gemini-1.5-pro", want: "0.625", wantNote: "version @001 removed"},
		{name: "google resource path", provider: "gcp.gemini", model: "models/gemini-1.5-pro", at: t2025, usage: k100, wantModel: "google/gemini-1.5-pro", want: "0.625", wantNote: "resource path removed"},
		{name: "dated snapshot", provider: "openai", model: "o3-2025-04-16", at: t2025, usage: m, wantModel: "openai/o3", want: "10", wantNote: "dated snapshot o3-2025-04-16 priced as o3"},
		{name: "compact dated snapshot", provider: "anthropic", model: "claude-sonnet-4-5-20250929", at: t2025, usage: m, wantModel: "anthropic/claude-sonnet-4-5", want: "28.5", wantNote: "dated snapshot claude-sonnet-4-5-20250929 priced as claude-sonnet-4-5"},
		{name: "fine-tune by base", provider: "openai", model: "ft:gpt-4o-2024-08-06:acme::9xYz", at: t2025, usage: std, wantModel: "openai/gpt-4o", want: "0.01755",
			wantNote: "fine-tune ft:gpt-4o-2024-08-06:acme::9xyz priced as its base model gpt-4o-2024-08-06; dated snapshot gpt-4o-2024-08-06 priced as gpt-4o"},
		{name: "openai.chat", provider: "openai.chat", model: "gpt-4o", at: t2025, usage: std, wantModel: "openai/gpt-4o", want: "0.01755"},
		{name: "unknown", provider: "openai", model: "gpt-5-ultra", at: t2025, usage: std, wantDetail: `model "gpt-5-ultra" not found for provider "openai" (nor in the 1 other price sources)`},
	})
}

// The embedded genai-prices catalog through a Book: span provider names
// that the catalog's own rules miss.
func TestNormalizationEmbedded(t *testing.T) {
	b := bookT(t, BookOptions{Aliases: map[string]string{"prod-gpt4o": "gpt-4o"}}, Embedded())
	std := usageKV{"input_tokens": 4100, "output_tokens": 730}
	m := usageKV{"input_tokens": 1000000, "output_tokens": 1000000}
	runBookCases(t, b, []bookCase{
		{name: "x_ai", provider: "x_ai", model: "grok-3", at: t2025, usage: m, wantModel: "x-ai/grok-3", want: "18", wantRef: "embedded:genai-prices@0.1.8#x-ai/grok-3"},
		{name: "azure.ai.openai", provider: "azure.ai.openai", model: "prod-gpt4o", at: t2025, usage: std, wantModel: "azure/gpt-4o", want: "0.01755", wantNote: "alias of prod-gpt4o"},
		{name: "aws.bedrock", provider: "aws.bedrock", model: "us.anthropic.claude-3-5-sonnet-20241022-v2:0", at: t2025, usage: m, wantModel: "aws/regional.anthropic.claude-3-5-sonnet-20241022-v2:0", want: "18"},
		{name: "gcp.vertex_ai", provider: "gcp.vertex_ai", model: "gemini-2.5-pro", at: t2025, usage: m, wantModel: "google/gemini-2.5-pro", want: "17.5"},
		{name: "explicit fine-tune entry", provider: "openai", model: "ft:gpt-4o-mini-2024-07-18:acme::abc", at: t2025, usage: m, wantModel: "openai/ft:gpt-4o-mini", want: "1.5"},
		{name: "response date kept when listed", provider: "openai", model: "gpt-4o-2024-05-13", at: t2025, usage: m, wantModel: "openai/gpt-4o-2024-05-13", want: "20"},
	})
}

func TestCanonicalProvider(t *testing.T) {
	for in, want := range map[string]string{
		"gcp.vertex_ai": "google", "aws.bedrock": "aws", "azure.ai.openai": "azure", "openai.chat": "openai",
		"x_ai": "x-ai", "XAI": "x-ai", " OpenAI ": "openai", "vertex_ai-language-models": "google",
		"vertex_ai-anthropic_models": "google", "bedrock_converse": "aws", "strands-agents": "strands-agents", "": "",
	} {
		if got := CanonicalProvider(in); got != want {
			t.Errorf("CanonicalProvider(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestProviderNamesNormalizedOnce: raw spellings are genaiconv's job.
// Pricing's own tables hold only canonical names genaiconv produces (and
// leaves as they are) and LiteLLM provider ids genaiconv does not know; a
// spelling added to both places fails here. Every name maps to a provider
// of the embedded catalog (or is ibm).
func TestProviderNamesNormalizedOnce(t *testing.T) {
	known := map[string]bool{}
	for _, id := range Embedded().ProviderIDs() {
		known[id] = true
	}
	known["ibm"] = true // watsonx: priced by LiteLLM and native catalogs, not in the snapshot
	for k, id := range semconvProviders {
		if n := genaiconv.NormalizeProvider(k); n != k {
			t.Errorf("semconvProviders[%q]: not a canonical name (genaiconv makes it %q)", k, n)
		}
		if !known[id] {
			t.Errorf("semconvProviders[%q] = %q: not a catalog provider", k, id)
		}
	}
	for k, id := range liteLLMProviders {
		if n := genaiconv.NormalizeProvider(k); n != k {
			t.Errorf("liteLLMProviders[%q]: genaiconv already normalizes it (to %q)", k, n)
		}
		if !known[id] {
			t.Errorf("liteLLMProviders[%q] = %q: not a catalog provider", k, id)
		}
	}
	// Spellings only genaiconv knows reach the catalog through it.
	for in, want := range map[string]string{
		"moonshot_ai": "moonshotai", "amazon-bedrock": "aws", "azure-openai": "azure", "google.generative-ai": "google",
		"az.ai.inference": "azure", "vertexai": "google", "spring_ai": "spring_ai",
	} {
		if got := CanonicalProvider(in); got != want {
			t.Errorf("CanonicalProvider(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLayers: a later source overrides an earlier one; a dated contract
// price applies from its first day, the old one up to the day before; outside
// the contract the list price of the layer below applies; discounts of a
// contract reduce prices found below it.
func TestLayers(t *testing.T) {
	lite := loadT(t, FormatLiteLLM, "testdata/litellm/prices.json")
	contract := loadT(t, FormatNative, "testdata/native/contract.yaml")
	if contract.Version() != "acme-2025-07" {
		t.Fatalf("version %q", contract.Version())
	}
	cref := "testdata/native/contract.yaml@acme-2025-07"
	b := bookT(t, BookOptions{}, Embedded(), lite, contract)
	m := usageKV{"input_tokens": 1000000, "output_tokens": 1000000}
	std := usageKV{"input_tokens": 4100, "output_tokens": 730}
	day := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	runBookCases(t, b, []bookCase{
		{name: "before contract: list price", provider: "openai", model: "gpt-4.1", at: day("2024-12-31T23:59:59.999Z"), usage: m, wantModel: "openai/gpt-4.1", want: "10", wantRef: "embedded:genai-prices@0.1.8#openai/gpt-4.1"},
		{name: "first contract price", provider: "openai", model: "gpt-4.1", at: day("2025-01-01T00:00:00Z"), usage: m, wantModel: "openai/gpt-4.1", want: "9.5", wantRef: cref + "#openai/gpt-4.1[0]"},
		{name: "day before the change: old price", provider: "openai", model: "gpt-4.1", at: day("2025-06-30T23:59:59.999Z"), usage: m, wantModel: "openai/gpt-4.1", want: "9.5", wantRef: cref + "#openai/gpt-4.1[0]"},
		{name: "day of the change: new price", provider: "openai", model: "gpt-4.1", at: day("2025-07-01T00:00:00Z"), usage: m, wantModel: "openai/gpt-4.1", want: "8.5", wantRef: cref + "#openai/gpt-4.1[1]"},
		{name: "contract flex tier", provider: "openai", model: "gpt-4.1", tier: "flex", at: day("2025-07-01T00:00:00Z"), usage: m, wantModel: "openai/gpt-4.1", want: "4.25", wantRef: cref + "#openai/gpt-4.1[1]~flex", wantTier: "flex"},
		// flex reprices input: the cache read takes the flex input price. (500000×0.85 + 500000×0.85 + 1e6×3.4)/1e6
		{name: "contract flex cache read", provider: "openai", model: "gpt-4.1", tier: "flex", at: day("2025-07-01T00:00:00Z"), usage: usageKV{"input_tokens": 1000000, "cache_read_tokens": 500000, "output_tokens": 1000000}, wantModel: "openai/gpt-4.1", want: "4.25", wantTier: "flex"},
		// the API reports the dated name; genai-prices knows it is gpt-4.1, so the contract applies
		{name: "dated response name reaches the contract", provider: "openai", model: "gpt-4.1-2025-04-14", at: day("2025-07-01T00:00:00Z"), usage: m, wantModel: "openai/gpt-4.1", want: "8.5", wantRef: cref + "#openai/gpt-4.1[1]",
			wantNote: "gpt-4.1-2025-04-14 is gpt-4.1 in embedded:genai-prices@0.1.8"},
		{name: "after contract: list price", provider: "openai", model: "gpt-4.1", at: day("2026-01-01T00:00:00Z"), usage: m, wantModel: "openai/gpt-4.1", want: "10"},
		{name: "explicit fine-tune entry", provider: "openai", model: "ft:gpt-4o-mini:acme:support:7x", at: t2025, usage: m, wantModel: "openai/ft:gpt-4o-mini:acme:support:7x", want: "1.5"},
		{name: "fine-tune by match prefix", provider: "openai", model: "ft:gpt-4o-mini:acme:sales:8y", at: t2025, usage: m, wantModel: "openai/ft:gpt-4o-mini:acme:support:7x", want: "1.5"},
		{name: "custom model, no provider", provider: "", model: "acme-7b", at: t2025, usage: usageKV{"input_tokens": 1000, "output_tokens": 1000}, wantModel: "acme-llm/acme-7b", want: "0.00115"},
		// LiteLLM (layer 2) overrides genai-prices (layer 1) for azure gpt-4o: 2.75 not 2.5
		{name: "later layer wins", provider: "azure.ai.openai", model: "gpt-4o", at: t2025, usage: std, wantModel: "azure/gpt-4o", want: "0.019305"},
		// 10% off the LiteLLM price: 0.01755 × 0.9
		{name: "model discount", provider: "openai", model: "gpt-4o", at: t2025, usage: std, wantModel: "openai/gpt-4o", want: "0.015795", wantDiscount: cref + "#discount[1]"},
		// 12.5% off anthropic from 2025-03-01: 0.288 × 0.875
		{name: "provider discount", provider: "anthropic", model: "claude-sonnet-4-5", at: t2025, usage: usageKV{"input_tokens": 100000, "cache_read_tokens": 10000, "output_tokens": 1000}, wantModel: "anthropic/claude-sonnet-4-5", want: "0.252", wantDiscount: cref + "#discount[0]"},
		{name: "discount not yet in force", provider: "anthropic", model: "claude-sonnet-4-5", at: day("2025-02-28T23:59:59Z"), usage: usageKV{"input_tokens": 100000, "cache_read_tokens": 10000, "output_tokens": 1000}, wantModel: "anthropic/claude-sonnet-4-5", want: "0.288"},
	})
}

// A model whose only prices are dated has none outside them, and says so.
func TestNoPriceInForce(t *testing.T) {
	c, _, err := Parse(FormatNative, []byte("models:\n  - provider: acme\n    model: m\n    prices:\n      - effective_from: 2025-01-01\n        effective_to: 2025-02-01\n        input_mtok: 1\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []interface{ Price(*Query, *Result) }{c, bookT(t, BookOptions{}, c)} {
		var r Result
		p.Price(query(t, "acme", "m", t2025, usageKV{"input_tokens": 1}), &r)
		if r.Status != UnknownModel || r.Detail != `model "m" of provider "acme" has no price in force at 2025-06-15T12:00:00Z` {
			t.Fatalf("%T: %s %q", p, r.Status, r.Detail)
		}
	}
}

func TestBookExplain(t *testing.T) {
	lite := loadT(t, FormatLiteLLM, "testdata/litellm/prices.json")
	contract := loadT(t, FormatNative, "testdata/native/contract.yaml")
	b := bookT(t, BookOptions{}, Embedded(), lite, contract)
	q := query(t, "openai", "openai/gpt-4o", t2025, usageKV{"input_tokens": 4100, "cache_read_tokens": 1000, "output_tokens": 730})
	q.Tier = "priority"
	var r Result
	var sb strings.Builder
	b.Explain(q, &r).Write(&sb, &r)
	want := `status:    priced
source:    testdata/litellm/prices.json (litellm, ` + lite.Version() + `), layer 2 of 3
name:      provider prefix openai/ removed
provider:  openai (openai), matched by id
model:     gpt-4o (gpt-4o), rule equals "gpt-4o", matched "gpt-4o"
price:     single price entry
service:   priority tier price
  cache_read_tokens                    1000 × 2.125 / 1000000 = 0.002125
  input_tokens                         3100 × 4.25 / 1000000 = 0.013175
  output_tokens                         730 × 17 / 1000000 = 0.01241
subtotal:  0.02771 USD
discount:  10% off (testdata/native/contract.yaml@acme-2025-07#discount[1])
ref:       testdata/litellm/prices.json@` + lite.Version() + `#openai/gpt-4o~priority
total:     0.024939 USD
`
	if sb.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", sb.String(), want)
	}
}

func TestRateCards(t *testing.T) {
	u := Usage{}
	u.SetInputTokens(4100)
	u.SetCacheReadTokens(1000)
	u.SetOutputTokens(730)
	cost := money.MustParse("0.0163")
	cases := []struct {
		name string
		spec RateCardSpec
		want string
	}{
		{"markup", RateCardSpec{MarkupPercent: "20"}, "0.01956"},
		{"negative markup", RateCardSpec{MarkupPercent: "-12.5"}, "0.0142625"},
		// (3100×4 + 1000×2 + 730×12)/1e6
		{"rates", RateCardSpec{Rates: map[string]string{"input_mtok": "4", "cache_read_mtok": "2", "output_mtok": "12"}}, "0.02316"},
		// rates without a cache price: cache reads count as input. (4100×4 + 730×12)/1e6
		{"rates no cache", RateCardSpec{Rates: map[string]string{"input_mtok": "4", "output_mtok": "12"}}, "0.02516"},
		// credits: (4100×100 + 730×300)/1e6 = 0.629 credits × 0.01
		{"credits", RateCardSpec{Rates: map[string]string{"input_mtok": "100", "output_mtok": "300"}, USDPerCredit: "0.01"}, "0.00629"},
		{"per request", RateCardSpec{Rates: map[string]string{"input_mtok": "0", "output_mtok": "0", "requests_kcount": "2"}}, "0.002"},
	}
	for _, tc := range cases {
		rc, err := NewRateCard(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var out = money.MustParse("99")
		if err := rc.Revenue(&u, &cost, &out); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := out.Text('f'); got != tc.want {
			t.Errorf("%s: revenue %s, want %s", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		spec RateCardSpec
		want string
	}{
		{RateCardSpec{}, "needs markup_percent or rates"},
		{RateCardSpec{MarkupPercent: "10", Rates: map[string]string{"input_mtok": "1"}}, "markup_percent and rates are exclusive: give one"},
		{RateCardSpec{MarkupPercent: "ten"}, `markup_percent: "ten" is not a number`},
		{RateCardSpec{MarkupPercent: "-101"}, `markup_percent: "-101" is below -100`},
		{RateCardSpec{Rates: map[string]string{"input_tokens": "1"}}, "rates.input_tokens: unknown price key"},
		{RateCardSpec{Rates: map[string]string{"input_mtok": "-1"}}, `rates.input_mtok: negative price "-1"`},
		{RateCardSpec{Rates: map[string]string{"cache_read_mtok": "1"}}, "rates: cache_read_mtok: missing ancestor price key input_mtok"},
		{RateCardSpec{MarkupPercent: "5", USDPerCredit: "0.01"}, "usd_per_credit needs rates (in credits)"},
	} {
		if _, err := NewRateCard(tc.spec); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: error %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// TestLint: every problem of a broken file, with its line and column.
func TestLint(t *testing.T) {
	for _, tc := range []struct{ format, path, want string }{
		{FormatLiteLLM, "testdata/litellm/bad.json", `8:9: error: negative-model.input_cost_per_token: negative price "-1e-06"
12:9: error: string-price.input_cost_per_token: must be a number, got 0.000001
15:5: error: no-provider.litellm_provider: missing: every entry needs its provider
18:5: warning: tts-model: no supported price: model not loaded
19:9: warning: tts-model.input_cost_per_character: cost key not supported: this part of the price is not applied
23:5: error: cache-without-input: cache_read_mtok: missing ancestor price key input_mtok
27:5: warning: "good-model": same provider and model as "good-model", which is used
`},
		{FormatNative, "testdata/native/bad.yaml", `6:19: error: models[0] openai/gpt-x.prices.input_mtok: negative price "-1"
7:7: error: models[0] openai/gpt-x.prices: unknown price key "outptu_mtok"
8:5: error: models[1].model: required
17:23: error: models[2] openai/gpt-y.prices[1].effective_to: 2025-03-01 is not after effective_from 2025-06-01
24:9: error: models[3] openai/gpt-z.prices[1]: overlaps prices[0] (effective 2025-01-01 to (open) and effective 2025-06-01 to (open))
29:7: error: models[4] openai/gpt-w.prices: cache_read_mtok: missing ancestor price key input_mtok
32:14: error: discounts[0].percent: "120" must be a number above 0 and at most 100
33:5: error: discounts[1].provider: required
35:21: error: discounts[1].effective_from: "2025-13-01" is not a date (want YYYY-MM-DD or RFC 3339)
36:1: error: unknown key "vendors" (want version, models, discounts)
`},
		{FormatLiteLLM, "testdata/litellm/prices.json", ""},
		{FormatNative, "testdata/native/contract.yaml", ""},
		{FormatGenAIPrices, "genaiprices/data.json", ""},
	} {
		data, err := os.ReadFile(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		for _, p := range Lint(tc.format, data) {
			sb.WriteString(p.String() + "\n")
		}
		if sb.String() != tc.want {
			t.Errorf("%s:\ngot\n%s\nwant\n%s", tc.path, sb.String(), tc.want)
		}
		// Load refuses exactly the files Lint reports errors for.
		_, _, loadErr := Source{Format: tc.format, Path: tc.path}.Load(context.Background())
		if (loadErr != nil) != strings.Contains(tc.want, "error:") {
			t.Errorf("%s: Source.Load error %v", tc.path, loadErr)
		}
	}
}

func TestLintYAMLSyntax(t *testing.T) {
	got := Lint(FormatNative, []byte("models:\n  - provider: [openai\n"))
	if len(got) != 1 || got[0].String() != "1:1: error: invalid YAML: line 1: did not find expected ',' or ']'" {
		t.Fatalf("%q", got)
	}
	got = Lint(FormatNative, []byte("- a\n"))
	if len(got) != 1 || got[0].String() != "1:1: error: top level must be a mapping with models and/or discounts" {
		t.Fatalf("%q", got)
	}
}

// TestBookCachedNoAlloc: with layering, normalization, a service tier and a
// discount, a pair seen before allocates nothing.
func TestBookCachedNoAlloc(t *testing.T) {
	lite := loadT(t, FormatLiteLLM, "testdata/litellm/prices.json")
	contract := loadT(t, FormatNative, "testdata/native/contract.yaml")
	b := bookT(t, BookOptions{Aliases: map[string]string{"deploy-1": "gpt-4o"}}, Embedded(), lite, contract)
	rc, err := NewRateCard(RateCardSpec{Rates: map[string]string{"input_mtok": "4", "output_mtok": "12"}})
	if err != nil {
		t.Fatal(err)
	}
	q := query(t, "openai.chat", "deploy-1", t2025, usageKV{"input_tokens": 4100, "cache_read_tokens": 1000, "output_tokens": 730})
	q.Tier = "priority"
	var r Result
	var rev = money.MustParse("0")
	b.Price(q, &r)
	if r.Status != Priced || r.DiscountRef == "" || r.Tier != "priority" {
		t.Fatalf("%s %s %q %q", r.Status, r.Detail, r.DiscountRef, r.Tier)
	}
	if n := testing.AllocsPerRun(1000, func() {
		b.Price(q, &r)
		_ = rc.Revenue(&q.Usage, &r.Cost, &rev)
	}); n != 0 {
		t.Fatalf("%v allocs per cached price + revenue", n)
	}
}
