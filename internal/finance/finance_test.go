package finance

import (
	"context"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

const testPlans = `
plans:
  pro:
    monthly_fee: "100"
    allowances:
      - {name: tokens, meter: tokens, bucket: total, amount: "1000", limit: soft, overage_price: "0.01"}
  starter:
    monthly_fee: "20"
    allowances:
      - {name: calls, meter: calls, amount: "2", limit: soft, overage: rate_card}
tenants:
  acme: {plan: pro}
  bigco: {plan: starter}
  idle: {plan: pro}
`

// ledger is a ledger under test: its balances are kept by the stores'
// insert hook, as the genai_ledger exporter keeps them.
type ledger struct {
	l      *balances.Ledger
	insert func(recs []usage.Record)
	// pgSum is PostgreSQL's SUM over the numeric column (nil for SQLite).
	pgSum func(col string) string
}

func plans(t testing.TB, text string) *entitlement.Source {
	ps, err := entitlement.Parse([]byte(text))
	require.NoError(t, err)
	return entitlement.StaticSource(ps)
}

func sqliteLedger(t testing.TB, src *entitlement.Source) ledger {
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "usage.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(context.Background()))
	return ledger{l: balances.ForSQLite(st, src, true), insert: func(recs []usage.Record) {
		_, _, err := st.Insert(context.Background(), recs)
		require.NoError(t, err)
	}}
}

func pgLedger(t testing.TB, src *entitlement.Source) ledger {
	url := pgstoretest.NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	st, err := pgstore.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	require.NoError(t, st.Migrate(context.Background()))
	return ledger{l: balances.ForPostgres(st, src, true), insert: func(recs []usage.Record) {
		_, _, err := st.Insert(context.Background(), recs)
		require.NoError(t, err)
	}, pgSum: func(col string) string {
		var s string
		require.NoError(t, st.Pool().QueryRow(context.Background(), `SELECT SUM(`+col+`)::text FROM usage_records`).Scan(&s))
		return s
	}}
}

func forEachStore(t *testing.T, text string, f func(t *testing.T, l ledger)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteLedger(t, plans(t, text))) })
	t.Run("postgres", func(t *testing.T) {
		pgstoretest.ServerURL(t)
		f(t, pgLedger(t, plans(t, text)))
	})
}

var seq int

func rec(tenant string, at time.Time, model string, in, out int64, cost, revenue string) usage.Record {
	seq++
	r := usage.Record{EventID: fmt.Sprintf("%048x", seq), Time: at, TenantID: tenant, Provider: "openai", Operation: "chat",
		RequestModel: model, Feature: "chat", InputTokens: in, OutputTokens: out, Billable: true, PricingStatus: usage.StatusUnpriced}
	if cost != "" {
		r.PricingStatus, r.CatalogProvider, r.CatalogModel, r.CostUSD, r.CostSource = usage.StatusPriced, "openai", model, cost, usage.CostSourceCatalog
	}
	r.RevenueUSD = revenue
	return r
}

var nov = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

// handLedger is the ledger whose margins are computed by hand in
// TestMarginByHand.
func handLedger() []usage.Record {
	oct := nov.AddDate(0, -1, 0)
	return []usage.Record{
		// acme (pro, fee 100, 1000 tokens, then 0.01 a token): 600 + 700 tokens.
		rec("acme", nov, "gpt-4o", 500, 100, "0.1", "0.2"),
		rec("acme", nov.Add(time.Hour), "gpt-4o-mini", 700, 0, "0.05", "0.1"),
		// bigco (starter, fee 20, 2 calls, then rate card): three expensive calls.
		rec("bigco", nov, "gpt-4o", 10, 10, "10.1", "0.7"),
		rec("bigco", nov.Add(time.Hour), "gpt-4o", 10, 10, "10.2", "0.1"),
		rec("bigco", nov.Add(2*time.Hour), "gpt-4o", 10, 10, "9.7", "0.2"),
		// bigco in October: one cheap call.
		rec("bigco", oct, "gpt-4o", 10, 10, "1", "0.1"),
		// walkin: no plan, pays the rate card; one call unpriced.
		rec("walkin", nov, "gpt-4o", 10, 10, "0.3", "0.5"),
		rec("walkin", nov.Add(time.Minute), "mystery", 10, 10, "", ""),
		// December: not in November's report.
		rec("acme", nov.AddDate(0, 1, 0), "gpt-4o", 100000, 0, "5", "9"),
	}
}

// TestMarginByHand: every figure of a small ledger, computed by hand.
//
//	acme   pro:     fee 100 + overage (1300-1000 tokens) × 0.01 = 3 → revenue 103; cost 0.1+0.05 = 0.15;
//	                margin 102.85 = 99.85 %
//	bigco  starter: fee 20 + the third call's rate card 0.2 → 20.2; cost 10.1+10.2+9.7 = 30; margin -9.8 = -48.51 %;
//	                October: revenue 20, cost 1 → cost ×30, revenue ×1.01: cost outgrew revenue
//	idle   pro:     fee 100, no calls → margin 100 = 100 %
//	walkin none:    rate card 0.5, cost 0.3 → margin 0.2 = 40 %; 1 of 2 calls unpriced = 50 %
func TestMarginByHand(t *testing.T) {
	forEachStore(t, testPlans, func(t *testing.T, l ledger) {
		l.insert(handLedger())
		p, err := ParsePeriod("2026-11")
		require.NoError(t, err)
		rep, err := MarginReport(context.Background(), l.l, p)
		require.NoError(t, err)
		var got []string
		for _, m := range rep.Tenants {
			j := m.JSON()
			got = append(got, fmt.Sprintf("%s plan=%s fee=%s overage=%s usage=%s revenue=%s cost=%s margin=%s pct=%s calls=%d unpriced=%d(%s%%) prev=%s/%s flags=%v",
				j.Tenant, j.Plan, j.PlanFeeUSD, j.OverageUSD, j.UsageRevenueUSD, j.RevenueUSD, j.CostUSD, j.MarginUSD, deref(j.MarginPct),
				j.Calls, j.UnpricedCalls, j.UnpricedPct, j.PrevRevenueUSD, j.PrevCostUSD, j.Flags))
		}
		assert.Equal(t, []string{
			"acme plan=pro fee=100 overage=3 usage=0.3 revenue=103 cost=0.15 margin=102.85 pct=99.85 calls=2 unpriced=0(0%) prev=100/0 flags=[]",
			"bigco plan=starter fee=20 overage=0.2 usage=1 revenue=20.2 cost=30 margin=-9.8 pct=-48.51 calls=3 unpriced=0(0%) prev=20/1 flags=[cost_outgrew_revenue negative_margin]",
			"idle plan=pro fee=100 overage=0 usage=0 revenue=100 cost=0 margin=100 pct=100 calls=0 unpriced=0(0%) prev=100/0 flags=[]",
			"walkin plan= fee=0 overage=0 usage=0.5 revenue=0.5 cost=0.3 margin=0.2 pct=40 calls=2 unpriced=1(50%) prev=0/0 flags=[unpriced_calls]",
		}, got)
		js := rep.JSON()
		assert.Equal(t, "223.7", js.RevenueUSD)
		assert.Equal(t, "30.45", js.CostUSD)
		assert.Equal(t, "193.25", js.MarginUSD)
		require.Len(t, js.Plans, 3)
		assert.Equal(t, PlanJSON{Plan: "pro", Tenants: 2, RevenueUSD: "203", CostUSD: "0.15", MarginUSD: "202.85", MarginPct: ptr("99.93"),
			MedianCostUSD: "0.075", HeavyUsers: []string{}}, js.Plans[1])
		assert.Equal(t, "starter", js.Plans[2].Plan)
		assert.Equal(t, "-48.51", *js.Plans[2].MarginPct)

		acme := js.Tenants[0]
		assert.Equal(t, []GroupJSON{
			{Key: "openai/gpt-4o", Calls: 1, CostUSD: "0.1", UsageRevenueUSD: "0.2"},
			{Key: "openai/gpt-4o-mini", Calls: 1, CostUSD: "0.05", UsageRevenueUSD: "0.1"},
		}, acme.ByModel)
		assert.Equal(t, []GroupJSON{{Key: "chat", Calls: 2, CostUSD: "0.15", UsageRevenueUSD: "0.3"}}, acme.ByFeature)
		assert.Equal(t, []AllowanceJSON{{Name: "tokens", Meter: "tokens", Amount: "1000", Used: "1300", Included: "1000", Granted: "0",
			Overage: "300", OverageUSD: "3", Calls: 2}}, acme.Allowances)

		inv, err := InvoiceOf(context.Background(), l.l, p, "acme", nov)
		require.NoError(t, err)
		assert.Equal(t, &Invoice{Tenant: "acme", Plan: "pro", Period: "2026-11", PeriodStart: p.Start, PeriodEnd: p.End, Calls: 2, Preview: true,
			TotalUSD: "103", Lines: []InvoiceLine{
				{Description: "plan pro: monthly fee", AmountUSD: "100"},
				{Description: "allowance tokens: 1000 of 1000 tokens included", Quantity: "1000", AmountUSD: "0", allowance: "tokens", meter: "tokens"},
				{Description: "allowance tokens: overage 300 tokens", Quantity: "300", AmountUSD: "3", allowance: "tokens", meter: "tokens"},
			}}, inv)
		var b strings.Builder
		require.NoError(t, inv.WriteTable(&b))
		assert.Equal(t, `invoice 2026-11, tenant acme, plan pro, 2026-11-01 to 2026-12-01 (preview: the period is not over)
plan pro: monthly fee                           100
allowance tokens: 1000 of 1000 tokens included  0
allowance tokens: overage 300 tokens            3
TOTAL USD                                       103
`, b.String())
		inv, err = InvoiceOf(context.Background(), l.l, p, "nobody", nov)
		require.NoError(t, err)
		assert.Nil(t, inv)
	})
}

func ptr(s string) *string { return &s }

// TestHeavyUser: a tenant above twice its plan's median cost is flagged.
func TestHeavyUser(t *testing.T) {
	l := sqliteLedger(t, plans(t, `
plans:
  flat: {monthly_fee: "10"}
tenants: {a: {plan: flat}, b: {plan: flat}, c: {plan: flat}}
`))
	l.insert([]usage.Record{
		rec("a", nov, "gpt-4o", 1, 1, "1", ""), rec("b", nov, "gpt-4o", 1, 1, "1.5", ""), rec("c", nov, "gpt-4o", 1, 1, "3.0000001", ""),
	})
	rep, err := MarginReport(context.Background(), l.l, Period{Name: "2026-11", Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)})
	require.NoError(t, err)
	require.Len(t, rep.Plans, 1)
	assert.Equal(t, []string{"c"}, rep.Plans[0].HeavyUsers)
	assert.Equal(t, []string{FlagHeavyUser}, rep.Tenants[2].Flags)
	assert.Empty(t, rep.Tenants[1].Flags)
}

// TestExactSumLargeLedger sums a generated ledger of 30,000 calls whose costs
// a float64 sum gets wrong, two ways: through package money (both stores) and,
// in PostgreSQL, by SUM over numeric; both equal integer arithmetic.
func TestExactSumLargeLedger(t *testing.T) {
	forEachStore(t, `plans: {flat: {monthly_fee: "0"}}`, func(t *testing.T, l ledger) {
		const n = 30000
		recs := make([]usage.Record, n)
		want := new(big.Int) // in 1e-12 USD
		var float float64
		for i := range recs {
			// 123.456789012345 and the like: 15 significant digits each,
			// 19 in the total, beyond a float64's 15.9.
			units := int64(123_456_789_012_345 + (i%997)*1_000_003_001)
			cost := new(big.Rat).SetFrac64(units, 1_000_000_000_000).FloatString(12)
			recs[i] = rec(fmt.Sprintf("t%d", i%7), nov.Add(time.Duration(i)*time.Second), "gpt-4o", 1, 1, cost, cost)
			want.Add(want, big.NewInt(units))
			var x float64
			fmt.Sscan(cost, &x)
			float += x
		}
		for i := 0; i < n; i += 5000 {
			l.insert(recs[i : i+5000])
		}
		wantText := new(big.Rat).SetFrac(want, big.NewInt(1_000_000_000_000)).FloatString(12)
		wantText = strings.TrimRight(strings.TrimRight(wantText, "0"), ".")
		require.NotEqual(t, wantText, strings.TrimRight(fmt.Sprintf("%.12f", float), "0"), "the float sum must be wrong for this test to mean anything")

		p, _ := ParsePeriod("2026-11")
		rep, err := MarginReport(context.Background(), l.l, p)
		require.NoError(t, err)
		js := rep.JSON()
		assert.Equal(t, wantText, js.CostUSD)
		assert.Equal(t, int64(n), js.Calls)
		if l.pgSum != nil {
			got := l.pgSum("cost_usd")
			assert.Equal(t, wantText, strings.TrimRight(strings.TrimRight(got, "0"), "."), "PostgreSQL SUM(numeric)")
		}
	})
}
