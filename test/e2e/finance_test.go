package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/finance"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/reprice"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// financeConfig: list prices (the embedded snapshot), a 20 % markup rate
// card, balances kept under the plans of the usage service.
const financeConfig = `
extensions:
  genai_usage_service:
    plans: {{PLANS}}
    sqlite:
      path: {{DB}}
    http:
      endpoint: {{API}}
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      tenant: [tenant.id]
    pricing:
      revenue:
        default: {markup_percent: 20}
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
    balances: genai_usage_service
service:
  extensions: [genai_usage_service]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// monthOfHistory is November 2026 of two tenants, one OTLP request a day:
//
//	acme        10 × gpt-4o-mini (10,000 in, 1,000 out)      = 10 × 0.0021
//	bigspender   2 × gpt-4o      (100,000 in, 20,000 out)    =  2 × 0.45
//	             1 × claude-sonnet-4-5 (10,000 in, 1,000 out) =  1 × 0.045
func monthOfHistory() [][]byte {
	type call struct {
		tenant, provider, model string
		in, out                 int64
		n                       int
	}
	calls := []call{{"acme", "openai", "gpt-4o-mini", 10000, 1000, 10}, {"bigspender", "openai", "gpt-4o", 100000, 20000, 2},
		{"bigspender", "anthropic", "claude-sonnet-4-5", 10000, 1000, 1}}
	var out [][]byte
	seq := 0
	for d := 0; d < 30; d++ {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "app")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for _, c := range calls {
			for i := 0; i < c.n; i++ {
				seq++
				end := time.Date(2026, 11, 1+d, 12, i, 0, 0, time.UTC)
				sp := spans.AppendEmpty()
				var tid pcommon.TraceID
				copy(tid[:], fmt.Sprintf("fin%013d", seq))
				sp.SetTraceID(tid)
				sp.SetSpanID(pcommon.SpanID{8, 7, 6, 5, 4, 3, 2, 1})
				sp.SetName("chat " + c.model)
				sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-2 * time.Second)))
				sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
				_ = sp.Attributes().FromRaw(map[string]any{
					"gen_ai.operation.name": "chat", "gen_ai.provider.name": c.provider, "gen_ai.request.model": c.model,
					"gen_ai.usage.input_tokens": c.in, "gen_ai.usage.output_tokens": c.out, "tenant.id": c.tenant,
				})
			}
		}
		var m ptrace.JSONMarshaler
		b, err := m.MarshalTraces(td)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return out
}

// TestFinanceEndToEnd: a ledger built by the collector from every captured
// real-client call plus a generated month of history. The margin report
// shows acme profitable and bigspender at a loss, to the digit; re-pricing
// with the same book and rate card reproduces every stored cost and revenue,
// and a price file that changes gpt-4o changes exactly the gpt-4o calls;
// reconciliation against the OpenAI fixture finds the seeded 3 % gap on
// 2026-11-17 gpt-4o and nothing else, and the Anthropic fixture agrees.
func TestFinanceEndToEnd(t *testing.T) {
	root := repoRoot(t)
	fx := filepath.Join(root, "test", "e2e", "testdata", "finance")
	plansPath := filepath.Join(fx, "plans.yaml")
	cfg := strings.NewReplacer("{{PLANS}}", plansPath, "{{API}}", fmt.Sprintf("127.0.0.1:%d", freePort(t))).Replace(financeConfig)
	c := startCollector(t, cfg)
	captures, err := filepath.Glob(filepath.Join(root, "testdata", "realclients", "*.otlp.jsonl"))
	require.NoError(t, err)
	require.NotEmpty(t, captures)
	for _, p := range captures {
		c.sendFile(t, p)
	}
	for _, b := range monthOfHistory() {
		c.post(t, b)
	}
	waitRows(t, c, 390)
	// The captures' wrapper spans wait for their children a moment: wait
	// until the ledger stops growing, then stop (flush).
	last := -1
	require.Eventually(t, func() bool {
		n := countSQLite(c.dbPath)
		stable := n == last
		last = n
		return stable
	}, 30*time.Second, 1500*time.Millisecond)
	c.stop(t)

	ctx := context.Background()
	ps, err := entitlement.Load(plansPath)
	require.NoError(t, err)
	l, closeLedger, err := balances.Open(ctx, balances.Target{SQLitePath: c.dbPath}, entitlement.StaticSource(ps))
	require.NoError(t, err)
	defer closeLedger()

	// Margin, by hand:
	//   acme:       fee 100 + (300 × 11,000 − 2,000,000) × 0.00001 = 113; cost 300 × 0.0021 = 0.63
	//   bigspender: fee 5 (90 calls of 1,000);                        cost 60 × 0.45 + 30 × 0.045 = 28.35
	p, err := finance.ParsePeriod("2026-11")
	require.NoError(t, err)
	rep, err := finance.MarginReport(ctx, l, p)
	require.NoError(t, err)
	var got []string
	for _, m := range rep.Tenants {
		j := m.JSON()
		if j.Tenant != "acme" && j.Tenant != "bigspender" {
			// Captured calls of November, of tenants without a plan: they
			// pay the rate card (20 % over cost).
			assert.Equal(t, "", j.Plan, j.Tenant)
			assert.Equal(t, "16.67", *j.MarginPct, j.Tenant)
			continue
		}
		got = append(got, fmt.Sprintf("%s %s revenue=%s (fee %s + overage %s) cost=%s margin=%s %s%% usage=%s calls=%d flags=%v",
			j.Tenant, j.Plan, j.RevenueUSD, j.PlanFeeUSD, j.OverageUSD, j.CostUSD, j.MarginUSD, *j.MarginPct, j.UsageRevenueUSD, j.Calls, j.Flags))
	}
	assert.Equal(t, []string{
		"acme pro revenue=113 (fee 100 + overage 13) cost=0.63 margin=112.37 99.44% usage=0.756 calls=300 flags=[]",
		"bigspender starter revenue=5 (fee 5 + overage 0) cost=28.35 margin=-23.35 -467% usage=34.02 calls=90 flags=[negative_margin]",
	}, got)

	// Re-price the whole ledger with the collector's book and card.
	var all []usage.Record
	require.NoError(t, l.Records(ctx, time.Unix(0, 0), time.Now().Add(24*time.Hour), func(r *usage.Record) error {
		all = append(all, *r)
		return nil
	}))
	require.Greater(t, len(all), 390)
	cards, err := pricing.LoadRateCards(filepath.Join(fx, "ratecards.yaml"))
	require.NoError(t, err)
	repriced := func(layers ...*pricing.Catalog) (*reprice.Repricer, []string) {
		b, err := pricing.NewBook(layers, pricing.BookOptions{})
		require.NoError(t, err)
		rp, err := reprice.New(reprice.Options{Book: b, Cards: cards})
		require.NoError(t, err)
		var changed []string
		for i := range all {
			o, err := rp.Add(&all[i])
			require.NoError(t, err)
			if o.Changed {
				changed = append(changed, all[i].EventID)
			}
		}
		sort.Strings(changed)
		return rp, changed
	}
	rp, changed := repriced(pricing.Embedded())
	assert.Empty(t, changed, "the same book and card reproduce every stored cost and revenue")
	tot := rp.Totals()
	assert.Equal(t, money.Format(&tot.CostNow), money.Format(&tot.CostAlt))
	assert.Equal(t, money.Format(&tot.RevenueNow), money.Format(&tot.RevenueAlt))
	assert.Equal(t, int64(len(all)), tot.Calls)

	contract, _, err := pricing.Source{Format: pricing.FormatNative, Path: filepath.Join(fx, "prices-changed.yaml")}.Load(context.Background())
	require.NoError(t, err)
	_, changed = repriced(pricing.Embedded(), contract)
	var gpt4o []string
	for _, r := range all {
		if r.CatalogModel == "gpt-4o" && r.CostSource == usage.CostSourceCatalog {
			gpt4o = append(gpt4o, r.EventID)
		}
	}
	sort.Strings(gpt4o)
	require.GreaterOrEqual(t, len(gpt4o), 60)
	assert.Equal(t, gpt4o, changed, "exactly the gpt-4o calls change")

	// Reconciliation through the CLI: exit 1, the seeded gap only.
	cli := filepath.Join(root, "bin", "genaimeter")
	out, err := exec.Command(cli, "reconcile", "--db", c.dbPath, "--provider", "openai", "--costs", filepath.Join(fx, "openai-costs.jsonl"),
		"--map", filepath.Join(fx, "map.yaml"), "--format", "json").CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	assert.Equal(t, 1, ee.ExitCode())
	assert.Contains(t, string(out), "genaimeter reconcile: 1 day and model lines beyond tolerance: 2026-11-17 gpt-4o (differs)")
	assert.Contains(t, string(out), `"metered_usd": "0.9",
      "provider_usd": "0.927",
      "diff_usd": "0.027",
      "diff_pct": "3",`)
	assert.Equal(t, 59, strings.Count(string(out), `"status": "matches"`), "30 days × 2 models, one of them differs")
	assert.Equal(t, 1, strings.Count(string(out), `"status": "differs"`))
	out, err = exec.Command(cli, "reconcile", "--db", c.dbPath, "--provider", "anthropic", "--costs", filepath.Join(fx, "anthropic-cost-report.json"),
		"--map", filepath.Join(fx, "map.yaml")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, 30, strings.Count(string(out), "claude-sonnet-4-5"), "%s", out)
}
