package pricing

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genaimeter/genaimeter/internal/money"
)

var t2025 = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

type usageKV map[string]int64

func query(t testing.TB, provider, model string, at time.Time, u usageKV) *Query {
	t.Helper()
	q := &Query{Provider: provider, ResponseModel: model, At: at}
	for k, v := range u {
		if err := q.Usage.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return q
}

func priceOf(t testing.TB, c *Catalog, q *Query) Result {
	t.Helper()
	var r Result
	c.Price(q, &r)
	return r
}

// TestExactCosts checks hand-computed costs (price per million tokens ×
// count, exactly) against the embedded catalog.
func TestExactCosts(t *testing.T) {
	c := Embedded()
	cases := []struct {
		name, provider, model string
		at                    time.Time
		usage                 usageKV
		wantProv, wantModel   string
		want                  string
	}{
		// 4100×2.50/1e6 + 730×10/1e6 = 0.01025 + 0.0073
		{"gpt-4o plain", "openai", "gpt-4o", t2025, usageKV{"input_tokens": 4100, "output_tokens": 730}, "openai", "gpt-4o", "0.01755"},
		// cache reads leave input at their own rate: (3100×2.5 + 1000×1.25 + 730×10)/1e6
		{"gpt-4o cache read", "openai", "gpt-4o", t2025, usageKV{"input_tokens": 4100, "cache_read_tokens": 1000, "output_tokens": 730}, "openai", "gpt-4o", "0.0163"},
		// reasoning is part of output and has no own price for gpt-4o: unchanged
		{"gpt-4o reasoning", "openai", "gpt-4o", t2025, usageKV{"input_tokens": 4100, "output_tokens": 730, "output_reasoning_tokens": 500}, "openai", "gpt-4o", "0.01755"},
		// priced reasoning: (500×2 + 500×8 + 1500×3)/1e6
		{"sonar-deep-research reasoning", "perplexity", "sonar-deep-research", t2025, usageKV{"input_tokens": 500, "output_tokens": 2000, "output_reasoning_tokens": 1500}, "perplexity", "sonar-deep-research", "0.0095"},
		// requests_kcount 12 is charged once per call: (1000+500)×1/1e6 + 12/1000
		{"sonar requests", "perplexity", "sonar", t2025, usageKV{"input_tokens": 1000, "output_tokens": 500}, "perplexity", "sonar", "0.0135"},
		{"sonar empty usage still one request", "perplexity", "sonar", t2025, usageKV{}, "perplexity", "sonar", "0.012"},
		// tier: the whole request moves to the tier when input_tokens > 200000
		{"sonnet-4-6 at tier start", "anthropic", "claude-sonnet-4-6", t2025, usageKV{"input_tokens": 200000, "output_tokens": 1000}, "anthropic", "claude-sonnet-4-6", "0.615"},
		{"sonnet-4-6 past tier start", "anthropic", "claude-sonnet-4-6", t2025, usageKV{"input_tokens": 200001, "output_tokens": 1000}, "anthropic", "claude-sonnet-4-6", "1.222506"},
		// tier with cache: leaf input 140001×6 + cache read 50000×0.6 + cache write 10000×7.5 + out 1000×22.5
		{"sonnet-4-6 tier with cache", "anthropic", "claude-sonnet-4-6", t2025, usageKV{"input_tokens": 200001, "cache_read_tokens": 50000, "cache_write_tokens": 10000, "output_tokens": 1000}, "anthropic", "claude-sonnet-4-6", "0.967506"},
		// from 2026-03-13 the same model has flat prices: 200001×3 + 1000×15
		{"sonnet-4-6 after start_date", "anthropic", "claude-sonnet-4-6", time.Date(2026, 3, 13, 0, 0, 0, 0, time.UTC), usageKV{"input_tokens": 200001, "output_tokens": 1000}, "anthropic", "claude-sonnet-4-6", "0.615003"},
		{"sonnet-4-6 1ms before start_date", "anthropic", "claude-sonnet-4-6", time.Date(2026, 3, 12, 23, 59, 59, 999e6, time.UTC), usageKV{"input_tokens": 200001, "output_tokens": 1000}, "anthropic", "claude-sonnet-4-6", "1.222506"},
		// deepseek-chat: 0.27/M from 00:30 to 16:30 UTC, 0.135/M otherwise
		{"deepseek peak", "deepseek", "deepseek-chat", time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC), usageKV{"input_tokens": 1000000}, "deepseek", "deepseek-chat", "0.27"},
		{"deepseek window start inclusive", "deepseek", "deepseek-chat", time.Date(2025, 6, 15, 0, 30, 0, 0, time.UTC), usageKV{"input_tokens": 1000000}, "deepseek", "deepseek-chat", "0.27"},
		{"deepseek before window", "deepseek", "deepseek-chat", time.Date(2025, 6, 15, 0, 29, 59, 999e6, time.UTC), usageKV{"input_tokens": 1000000}, "deepseek", "deepseek-chat", "0.135"},
		{"deepseek window end exclusive", "deepseek", "deepseek-chat", time.Date(2025, 6, 15, 16, 30, 0, 0, time.UTC), usageKV{"input_tokens": 1000000}, "deepseek", "deepseek-chat", "0.135"},
		{"deepseek window in other zone", "deepseek", "deepseek-chat", time.Date(2025, 6, 15, 20, 0, 0, 0, time.FixedZone("CST", 8*3600)), usageKV{"input_tokens": 1000000}, "deepseek", "deepseek-chat", "0.27"},
		// groq whisper: 10 s minimum, 0.111 $/h; 1.11/3600 has no finite expansion: 34 significant digits
		{"groq whisper minimum", "groq", "whisper-large-v3", t2025, usageKV{"audio_seconds": 4}, "groq", "whisper-large-v3", "0.000308" + strings.Repeat("3", 31)},
		{"groq whisper turbo hour", "groq", "whisper-large-v3-turbo", t2025, usageKV{"audio_seconds": 3600}, "groq", "whisper-large-v3-turbo", "0.04"},
		{"groq whisper zero", "groq", "whisper-large-v3-turbo", t2025, usageKV{"audio_seconds": 0}, "groq", "whisper-large-v3-turbo", "0"},
		// names: case, whitespace, compact dates, unknown provider, provider_match
		{"case and space", "OpenAI", "  GPT-4o ", t2025, usageKV{"input_tokens": 4100, "output_tokens": 730}, "openai", "gpt-4o", "0.01755"},
		{"compact date normalised", "openai", "gpt-4o-20240806", t2025, usageKV{"input_tokens": 4100, "output_tokens": 730}, "openai", "gpt-4o", "0.01755"},
		{"unknown provider uses model_match", "strands-agents", "gpt-4o", t2025, usageKV{"input_tokens": 4100, "output_tokens": 730}, "openai", "gpt-4o", "0.01755"},
		{"empty provider uses model_match", "", "gpt-4o", t2025, usageKV{"input_tokens": 4100, "output_tokens": 730}, "openai", "gpt-4o", "0.01755"},
		{"provider_match", "azure_openai", "gpt-4o", t2025, usageKV{"input_tokens": 4100, "output_tokens": 730}, "openai", "gpt-4o", "0.01755"},
		{"litellm prefix", "litellm", "openai/gpt-4o", t2025, usageKV{"input_tokens": 4100, "output_tokens": 730}, "openai", "gpt-4o", "0.01755"},
		// 987654321×2.5/1e6 + 123456789×10/1e6 = 2469.1358025 + 1234.56789
		{"large counts stay exact", "openai", "gpt-4o", t2025, usageKV{"input_tokens": 987654321, "output_tokens": 123456789}, "openai", "gpt-4o", "3703.7036925"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := priceOf(t, c, query(t, tc.provider, tc.model, tc.at, tc.usage))
			if r.Status != Priced {
				t.Fatalf("status %s: %s", r.Status, r.Detail)
			}
			if r.ProviderID != tc.wantProv || r.ModelID != tc.wantModel {
				t.Errorf("matched %s/%s, want %s/%s", r.ProviderID, r.ModelID, tc.wantProv, tc.wantModel)
			}
			if got := money.Format(&r.Cost); got != tc.want {
				t.Errorf("cost %s, want %s", got, tc.want)
			}
			// Cost itself is canonical too, for callers that render it directly.
			if got := r.Cost.Text('f'); got != tc.want {
				t.Errorf("Cost.Text = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestUnpriced(t *testing.T) {
	c := Embedded()
	cases := []struct {
		name       string
		q          *Query
		status     Status
		wantDetail string
	}{
		{"unknown model", query(t, "openai", "foo", t2025, usageKV{"input_tokens": 1}), UnknownModel,
			`model "foo" not found for provider "openai"`},
		{"unknown provider and model", query(t, "strands-agents", "foo", t2025, usageKV{"input_tokens": 1}), UnknownModel,
			`model "foo" not found: provider "strands-agents" is not in the catalog and no provider's model_match accepts the model`},
		{"no provider, unknown model", query(t, "", "foo", t2025, nil), UnknownModel,
			`model "foo" not found: no provider given and no provider's model_match accepts it`},
		{"no model names", &Query{Provider: "openai", At: t2025}, UnknownModel,
			"no model name (response and request model are empty)"},
		{"cache read exceeds input", query(t, "openai", "gpt-4o", t2025, usageKV{"input_tokens": 100, "cache_read_tokens": 200}), InvalidUsage,
			"invalid usage: cache_read_tokens (200) cannot exceed input_tokens (100)"},
		{"detail without total", query(t, "openai", "gpt-4o", t2025, usageKV{"cache_read_tokens": 200}), InvalidUsage,
			"invalid usage: missing usage value for input_tokens with positive reported descendant cache_read_tokens"},
		{"no time", query(t, "openai", "gpt-4o", time.Time{}, usageKV{"input_tokens": 1}), InvalidUsage,
			"call time is not set: prices are chosen by the time of the call"},
	}
	neg := query(t, "openai", "gpt-4o", t2025, nil)
	neg.Usage.SetInputTokens(-5)
	cases = append(cases, struct {
		name       string
		q          *Query
		status     Status
		wantDetail string
	}{"negative count", neg, InvalidUsage, "invalid usage: input_tokens = -5 is negative"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := priceOf(t, c, tc.q)
			if r.Status != tc.status || r.Detail != tc.wantDetail {
				t.Fatalf("got %s %q, want %s %q", r.Status, r.Detail, tc.status, tc.wantDetail)
			}
			if !r.Cost.IsZero() {
				t.Errorf("unpriced result carries cost %s", r.Cost.String())
			}
		})
	}
}

// The response model wins when known; otherwise the request model is priced
// and MatchedName says which one it was.
func TestResponseThenRequestModel(t *testing.T) {
	c := Embedded()
	q := &Query{Provider: "openai", ResponseModel: "gpt-4o-mini", RequestModel: "gpt-4o", At: t2025}
	q.Usage.SetInputTokens(1000000)
	r := priceOf(t, c, q)
	if r.ModelID != "gpt-4o-mini" || r.MatchedName != "gpt-4o-mini" {
		t.Fatalf("got %s via %q", r.ModelID, r.MatchedName)
	}
	q.ResponseModel = "my-finetune-xyz"
	r = priceOf(t, c, q)
	if r.Status != Priced || r.ModelID != "gpt-4o" || r.MatchedName != "gpt-4o" || money.Format(&r.Cost) != "2.5" {
		t.Fatalf("got %s %s via %q cost %s", r.Status, r.ModelID, r.MatchedName, money.Format(&r.Cost))
	}
	q.RequestModel = "also-unknown"
	r = priceOf(t, c, q)
	want := `response model "my-finetune-xyz" not found for provider "openai"; request model "also-unknown" not found for provider "openai"`
	if r.Status != UnknownModel || r.Detail != want {
		t.Fatalf("got %s %q", r.Status, r.Detail)
	}
}

func TestUsageSet(t *testing.T) {
	var u Usage
	for _, tc := range []struct {
		key     string
		n       int64
		wantErr string
	}{
		{"cache_read_tokens", 5, ""},
		{"bogus_tokens", 1, `unknown usage key "bogus_tokens"`},
		{"requests", 1, `usage key "requests" cannot be set: each call is priced as one request`},
		{"output_tokens", -1, "usage output_tokens = -1: counts must not be negative"},
	} {
		err := u.Set(tc.key, tc.n)
		if got := fmt.Sprint(err); (err == nil) != (tc.wantErr == "") || (err != nil && got != tc.wantErr) {
			t.Errorf("Set(%s, %d) = %v, want %q", tc.key, tc.n, err, tc.wantErr)
		}
	}
	if v, ok := u.Get("cache_read_tokens"); !ok || v != 5 {
		t.Fatalf("Get = %d %v", v, ok)
	}
	if _, ok := u.Get("output_tokens"); ok {
		t.Fatal("rejected Set must not mark the key present")
	}
	if got := strings.Join(u.Keys(), ","); got != "cache_read_tokens" {
		t.Fatalf("Keys = %s", got)
	}
}

func TestParseErrors(t *testing.T) {
	const okModel = `{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":1}}`
	cases := []struct{ name, data, want string }{
		{"not an array", `{}`, "genai-prices data must be a JSON array of providers"},
		{"unknown price key", `[{"id":"p","models":[` + okModel + `,{"id":"m2","match":{"equals":"m2"},"prices":{"input_mtok":1,"teleport_mtok":2}}]}]`,
			`1:82: provider[0] "p" model[1] "m2": prices: teleport_mtok: unknown price key`},
		{"negative price", `[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":-1}}]}]`,
			`1:22: provider[0] "p" model[0] "m": prices: input_mtok: negative price "-1"`},
		{"missing ancestor", `[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"prices":{"cache_read_mtok":1}}]}]`,
			`1:22: provider[0] "p" model[0] "m": prices: cache_read_mtok: missing ancestor price key input_mtok`},
		{"bad regex", `[{"id":"q","models":[{"id":"m","match":{"regex":"(["},"prices":{"input_mtok":1}}]}]`,
			`1:22: provider[0] "q" model[0] "m": match: regex "([": `},
		{"bad constraint", `[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"prices":[{"prices":{"input_mtok":1}},{"constraint":{"start_date":"2025-13-01"},"prices":{"input_mtok":2}}]}]}]`,
			`1:22: provider[0] "p" model[0] "m": prices[1].constraint: start_date "2025-13-01": `},
		{"bad tier", `[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":{"base":1,"tiers":[{"start":-1,"price":2}]}}}]}]`,
			`1:22: provider[0] "p" model[0] "m": prices: input_mtok: tiers[0].start -1: want a non-negative safe integer`},
		{"missing provider id", `[{"models":[]}]`, `1:2: provider[0] "": missing id`},
		{"unknown match clause", `[{"id":"p","models":[{"id":"m","match":{"fuzzy":"m"},"prices":{"input_mtok":1}}]}]`,
			`1:22: provider[0] "p" model[0] "m": match: unknown match clause {"fuzzy":"m"}`},
	}
	// Each error starts with its line:column in the data.
	for _, tc := range cases {
		_, err := ParseGenAIPrices([]byte(tc.data), "test")
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want prefix %q", tc.name, err, tc.want)
		}
	}
}

// Prices are read from their decimal text: 0.1+0.2 style float artefacts
// cannot appear, and precise literals survive.
func TestParseKeepsDecimalText(t *testing.T) {
	data := `[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":0.1,"output_mtok":0.2,"cache_read_mtok":1.000000000000000001}}]}]`
	c, err := ParseGenAIPrices([]byte(data), "test")
	if err != nil {
		t.Fatal(err)
	}
	r := priceOf(t, c, query(t, "p", "m", t2025, usageKV{"input_tokens": 2000000, "cache_read_tokens": 1000000, "output_tokens": 1000000}))
	if got := money.Format(&r.Cost); got != "1.300000000000000001" {
		t.Fatalf("cost %s", got)
	}
}

func TestSourceLoadFile(t *testing.T) {
	ctx := context.Background()
	if _, _, err := (Source{Format: "genai-prices", Path: "/nonexistent/prices.json"}).Load(ctx); err == nil || !strings.Contains(err.Error(), "/nonexistent/prices.json") {
		t.Fatalf("error %v should name the path", err)
	}
	if _, _, err := (Source{Format: "litellm-v0", Path: "x.json"}).Load(ctx); err == nil || err.Error() != `unsupported format "litellm-v0" (supported: genai-prices, litellm, genaimeter)` {
		t.Fatalf("error %v", err)
	}
	path := t.TempDir() + "/p.json"
	if err := writeFile(path, `[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":3}}]}]`); err != nil {
		t.Fatal(err)
	}
	c, _, err := Source{Format: "genai-prices", Path: path}.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := priceOf(t, c, query(t, "p", "m", t2025, usageKV{"input_tokens": 7}))
	if money.Format(&r.Cost) != "0.000021" || c.Source() != path {
		t.Fatalf("cost %s source %s", money.Format(&r.Cost), c.Source())
	}
}

func TestEmbeddedCatalog(t *testing.T) {
	c := Embedded()
	if c != Embedded() {
		t.Fatal("Embedded must be parsed once")
	}
	if n, p := c.NumModels(), len(c.ProviderIDs()); n != 1694 || p != 43 {
		t.Fatalf("%d models, %d providers; want 1694, 43 (genai-prices 0.1.8)", n, p)
	}
}

func TestNormalizeDates(t *testing.T) {
	for in, want := range map[string]string{
		"gpt-4o-20240806":           "gpt-4o-2024-08-06",
		"x-20240806-20250101":       "x-2024-08-06-2025-01-01",
		"x-20240806:0":              "x-2024-08-06:0",
		"x-20240230":                "x-20240230", // no such day
		"x-20241301":                "x-20241301",
		"x-202408061":               "x-202408061", // not followed by - : or end
		"x-19990101":                "x-19990101",
		"claude-3-5-sonnet-2024102": "claude-3-5-sonnet-2024102",
	} {
		if got := normalizeDates(in); got != want {
			t.Errorf("normalizeDates(%q) = %q, want %q", in, got, want)
		}
	}
}

// The resolution cache is bounded: a flood of distinct model names from
// spans cannot grow memory without limit.
func TestCacheBounded(t *testing.T) {
	c, err := ParseGenAIPrices([]byte(`[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":1}}]}]`), "t")
	if err != nil {
		t.Fatal(err)
	}
	var r Result
	for i := 0; i < 3*cacheShards*shardCapacity; i++ {
		c.Price(&Query{Provider: "p", ResponseModel: fmt.Sprint("x", i), At: t2025}, &r)
	}
	total := 0
	for i := range c.cache.shards {
		total += len(c.cache.shards[i].m)
	}
	if total > cacheShards*shardCapacity {
		t.Fatalf("cache holds %d entries, bound %d", total, cacheShards*shardCapacity)
	}
}

// A cached resolution must not allocate: the processor prices every span.
func TestPriceCachedNoAlloc(t *testing.T) {
	c := Embedded()
	q := query(t, "anthropic", "claude-sonnet-4-6", t2025, usageKV{"input_tokens": 250000, "cache_read_tokens": 1000, "output_tokens": 730})
	var r Result
	c.Price(q, &r)
	if allocs := testing.AllocsPerRun(200, func() { c.Price(q, &r) }); allocs != 0 {
		t.Fatalf("%v allocs per cached Price", allocs)
	}
	if money.Format(&r.Cost) != "1.511025" { // (249000×6 + 1000×0.6 + 730×22.5) / 1e6
		t.Fatalf("cost %s", money.Format(&r.Cost))
	}
}

func TestConcurrentPrice(t *testing.T) {
	c := Embedded()
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			var r Result
			for i := 0; i < 500; i++ {
				q := &Query{Provider: "openai", ResponseModel: []string{"gpt-4o", "GPT-4o", "gpt-4o-2024-08-06"}[i%3], At: t2025}
				q.Usage.SetInputTokens(4100)
				q.Usage.SetOutputTokens(730)
				c.Price(q, &r)
				if money.Format(&r.Cost) != "0.01755" {
					errs <- fmt.Sprintf("goroutine %d: %s", g, money.Format(&r.Cost))
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestExplain(t *testing.T) {
	c := Embedded()
	q := query(t, "azure", "claude-sonnet-4-6", t2025, usageKV{"input_tokens": 200001, "cache_read_tokens": 1, "output_tokens": 10})
	var r Result
	ex := c.Explain(q, &r)
	var b strings.Builder
	ex.Write(&b, &r)
	want := `status:    priced
provider:  azure (Microsoft Azure), matched by id
model:     claude-sonnet-4-6 (Claude Sonnet 4.6), rule ` + ex.ModelMatch + `, matched "claude-sonnet-4-6" via fallback provider anthropic
price:     entry 0 of 2 (no constraint)
tiers:     chosen by input_tokens = 200001
  cache_read_tokens                       1 × 0.6 / 1000000 [input_tokens > 200000] = 0.0000006
  input_tokens                       200000 × 6 / 1000000 [input_tokens > 200000] = 1.2
  output_tokens                          10 × 22.5 / 1000000 [input_tokens > 200000] = 0.000225
total:     1.2002256 USD
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
