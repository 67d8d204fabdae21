package reconcile

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
)

func embedded(t *testing.T) *pricing.Book {
	b, err := pricing.NewBook([]*pricing.Catalog{pricing.Embedded()}, pricing.BookOptions{})
	require.NoError(t, err)
	return b
}

var n int

func rec(day int, hour int, provider, model, service, cost string) usage.Record {
	n++
	return usage.Record{EventID: fmt.Sprintf("%048x", n), Time: time.Date(2026, 11, day, hour, 0, 0, 0, time.UTC), TenantID: "acme",
		ServiceName: service, Provider: provider, CatalogProvider: provider, CatalogModel: model, RequestModel: model, CostUSD: cost,
		PricingStatus: usage.StatusPriced}
}

func records() []usage.Record {
	return []usage.Record{
		rec(2, 1, "openai", "gpt-4o", "app", "0.5"),
		rec(2, 2, "openai", "gpt-4o", "app", "0.25"),
		rec(2, 3, "openai", "gpt-4o-mini", "app", "0.03"),
		rec(3, 1, "openai", "gpt-4o", "app", "1.2"),
		rec(3, 2, "openai", "gpt-4o", "batch-jobs", "9"), // another service: another project
		rec(4, 1, "openai", "gpt-4o", "app", "5"),        // after the report's last day
		rec(2, 5, "anthropic", "claude-sonnet-4-0", "app", "1.25"),
		rec(2, 6, "anthropic", "claude-sonnet-4-0", "app", "0.75"),
		rec(3, 5, "anthropic", "claude-sonnet-4-0", "app", "1.5"),
	}
}

func rowsText(rs []Row) []string {
	var out []string
	for _, r := range rs {
		pct := "-"
		if r.DiffPct != nil {
			pct = money.Format(r.DiffPct)
		}
		out = append(out, fmt.Sprintf("%s %s metered=%s provider=%s diff=%s pct=%s %s", r.Day, r.Model, money.Format(&r.MeteredUSD),
			money.Format(&r.ProviderUSD), money.Format(&r.DiffUSD), pct, r.Status))
	}
	return out
}

func reconcile(t *testing.T, provider, file string, cfg *Config, recs []usage.Record) []Row {
	lines, err := ParseFile(provider, filepath.Join("testdata", file))
	require.NoError(t, err)
	rc, err := New(provider, cfg, embedded(t), lines)
	require.NoError(t, err)
	for i := range recs {
		require.NoError(t, rc.Add(&recs[i]))
	}
	return rc.Rows()
}

// TestOpenAISeededGap: the fixture agrees with the ledger on every day and
// model but gpt-4o on 2026-11-03, 3 % above; the unmapped project is out.
func TestOpenAISeededGap(t *testing.T) {
	cfg := &Config{Scopes: map[string]Scope{"proj_app": {ServiceName: "app"}}, TolerancePercent: "1", ToleranceUSD: "0.001"}
	rows := reconcile(t, OpenAI, "openai-costs.jsonl", cfg, records())
	assert.Equal(t, []string{
		"2026-11-02 gpt-4o metered=0.75 provider=0.75 diff=0 pct=0 matches",
		"2026-11-02 gpt-4o-mini metered=0.03 provider=0.03 diff=0 pct=0 matches",
		"2026-11-03 gpt-4o metered=1.2 provider=1.236 diff=0.036 pct=3 differs",
	}, rowsText(rows))
	// Within a 3 % tolerance it is no finding.
	cfg.TolerancePercent = "3"
	rows = reconcile(t, OpenAI, "openai-costs.jsonl", cfg, records())
	assert.Equal(t, StatusMatches, rows[2].Status)
}

// TestAnthropicCents: amounts are cents; the dated model name is read as
// the catalog model the records carry.
func TestAnthropicCents(t *testing.T) {
	cfg := &Config{Scopes: map[string]Scope{"wrkspc_app": {ServiceName: "app"}}, TolerancePercent: "1"}
	rows := reconcile(t, Anthropic, "anthropic-cost-report.json", cfg, records())
	assert.Equal(t, []string{
		"2026-11-02 claude-sonnet-4-0 metered=2 provider=2 diff=0 pct=0 matches",
		"2026-11-03 claude-sonnet-4-0 metered=1.5 provider=1.5 diff=0 pct=0 matches",
	}, rowsText(rows))
}

// TestOneSidedAndUnpriced: a line the ledger lacks, calls the provider does
// not bill, and metered calls without a price are all findings.
func TestOneSidedAndUnpriced(t *testing.T) {
	recs := records()
	recs = append(recs, rec(3, 9, "openai", "gpt-4.1", "app", "0.4"))
	un := rec(2, 9, "openai", "gpt-4o-mini", "app", "")
	un.PricingStatus = usage.StatusUnpriced
	recs = append(recs, un)
	recs[0].CostUSD = "0" // gpt-4o on 11-02 now 0.25 metered
	cfg := &Config{Scopes: map[string]Scope{"proj_app": {ServiceName: "app"}}, TolerancePercent: "1"}
	var got []string
	for _, r := range reconcile(t, OpenAI, "openai-costs.jsonl", cfg, recs) {
		got = append(got, r.Day+" "+r.Model+" "+r.Status)
	}
	assert.Equal(t, []string{"2026-11-02 gpt-4o differs", "2026-11-02 gpt-4o-mini metered_unpriced", "2026-11-03 gpt-4.1 metered_only", "2026-11-03 gpt-4o differs"}, got)
	lines, err := ParseFile(OpenAI, filepath.Join("testdata", "openai-costs.jsonl"))
	require.NoError(t, err)
	rc, err := New(OpenAI, cfg, embedded(t), lines)
	require.NoError(t, err)
	rows := rc.Rows() // no records at all
	for _, r := range rows {
		assert.Equal(t, StatusProviderOnly, r.Status, r.Day+" "+r.Model)
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ provider, body, want string }{
		{OpenAI, `{"object":"list","data":[]}`, `page 1: object: want "page" (an /v1/organization/costs response), got "list"`},
		{OpenAI, `{"object":"page","data":[{"start_time":0,"end_time":3600,"results":[]}]}`, `page 1: data[0]: bucket of 3600 s: want daily buckets (bucket_width=1d)`},
		{OpenAI, `{"object":"page","data":[{"start_time":0,"end_time":86400,"results":[{"amount":{"value":1,"currency":"eur"}}]}]}`, `page 1: data[0].results[0].amount.currency: want usd, got "eur"`},
		{Anthropic, `{"data":[]}`, `page 1: has_more missing: not a /v1/organizations/cost_report response`},
		{Anthropic, `{"data":[{"starting_at":"2026-11-02T00:00:00Z","ending_at":"2026-11-03T00:00:00Z","results":[{"currency":"USD","amount":"x"}]}],"has_more":false}`, `page 1: data[0].results[0].amount: invalid decimal "x": parse mantissa: x`},
		{"azure", `{}`, `provider "azure": want openai or anthropic`},
	} {
		_, err := Parse(c.provider, []byte(c.body))
		assert.EqualError(t, err, c.want)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "map.yaml")
	require.NoError(t, os.WriteFile(p, []byte("scopes:\n  proj_app: {service_name: app, environment: production}\ntolerance_percent: \"-1\"\n"), 0o600))
	_, err := LoadConfig(p)
	assert.EqualError(t, err, p+`: tolerance_percent: want a decimal >= 0, got "-1"`)
	require.NoError(t, os.WriteFile(p, []byte("scopes:\n  proj_app: {service: app}\n"), 0o600))
	_, err = LoadConfig(p)
	assert.ErrorContains(t, err, "field service not found")
}

// TestReportedPerRecord: metered against the cost the span reported, per
// tenant and model.
func TestReportedPerRecord(t *testing.T) {
	recs := records()[:3]
	recs[0].ReportedCostUSD, recs[0].CostReconciliation = "0.5", usage.ReconcileMatches
	recs[1].ReportedCostUSD, recs[1].CostReconciliation = "0.3", usage.ReconcileDiffers
	rp := NewReported()
	for i := range recs {
		require.NoError(t, rp.Add(&recs[i]))
	}
	rows := rp.Rows()
	require.Len(t, rows, 1)
	assert.Equal(t, "openai/gpt-4o", rows[0].Model)
	assert.Equal(t, "0.75", money.Format(&rows[0].MeteredUSD))
	assert.Equal(t, "0.8", money.Format(&rows[0].ReportedUSD))
	assert.Equal(t, [2]int64{1, 1}, [2]int64{rows[0].Matches, rows[0].Differs})
}

// TestUsageTokens: the provider's usage report against the metered tokens:
// a 10 % input gap is a finding even where the cost agrees.
func TestUsageTokens(t *testing.T) {
	recs := records()
	recs[6].InputTokens, recs[6].OutputTokens = 1000, 300
	recs[7].InputTokens, recs[7].OutputTokens = 500, 100
	recs[8].InputTokens, recs[8].OutputTokens = 1000, 100
	costs, err := ParseFile(Anthropic, filepath.Join("testdata", "anthropic-cost-report.json"))
	require.NoError(t, err)
	toks, err := ParseUsageFile(Anthropic, filepath.Join("testdata", "anthropic-usage-report.json"))
	require.NoError(t, err)
	cfg := &Config{Scopes: map[string]Scope{"wrkspc_app": {ServiceName: "app"}}, TolerancePercent: "1"}
	rc, err := New(Anthropic, cfg, embedded(t), append(costs, toks...))
	require.NoError(t, err)
	for i := range recs {
		require.NoError(t, rc.Add(&recs[i]))
	}
	var got []string
	for _, r := range rc.Rows() {
		got = append(got, fmt.Sprintf("%s %s in %d/%d out %d/%d %s tokens_differ=%v", r.Day, r.Model, r.MeteredInput, r.ProviderInput,
			r.MeteredOutput, r.ProviderOutput, r.Status, r.TokensDiffer))
	}
	assert.Equal(t, []string{
		"2026-11-02 claude-sonnet-4-0 in 1500/1500 out 400/400 matches tokens_differ=false",
		"2026-11-03 claude-sonnet-4-0 in 1000/900 out 100/100 differs tokens_differ=true",
	}, got)

	dir := t.TempDir()
	p := filepath.Join(dir, "usage.jsonl")
	require.NoError(t, os.WriteFile(p, []byte(`{"object":"page","data":[{"object":"bucket","start_time":1793577600,"end_time":1793664000,"results":[{"object":"organization.usage.completions.result","input_tokens":1000,"output_tokens":500,"input_cached_tokens":800,"num_model_requests":5,"project_id":"proj_app","user_id":null,"api_key_id":null,"model":"gpt-4o-2024-08-06","batch":null}]}],"has_more":false,"next_page":null}`), 0o600))
	ls, err := ParseUsageFile(OpenAI, p)
	require.NoError(t, err)
	require.Len(t, ls, 1)
	assert.Equal(t, Line{Day: time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC), Scope: "proj_app", Model: "gpt-4o-2024-08-06", Tokens: true, InputTokens: 1000, Output: 500}, ls[0])
}
