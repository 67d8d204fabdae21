package finance

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// randomPlans: a pinned plan with a token allowance, a pinned anchor-day
// plan, a plan without allowances (a tenant on it has no balances: its plan
// is its first call's), and tenants whose plan comes from their calls
// (plan changes within a period) or from no plan at all (pay as you go).
const randomPlans = `
plans:
  pro:
    monthly_fee: "100"
    allowances:
      - {name: tokens, meter: tokens, bucket: total, amount: "20000", limit: soft, overage_price: "0.0001"}
  starter:
    monthly_fee: "20"
    allowances:
      - {name: calls, meter: calls, amount: "5", limit: soft, overage: rate_card}
  flat: {monthly_fee: "7.5"}
  flat2: {monthly_fee: "9"}
  anchored:
    monthly_fee: "30"
    billing_period: anchor_day
    allowances:
      - {name: cost, meter: cost_usd, amount: "0.5", limit: soft, overage: rate_card}
tenants:
  acme: {plan: pro}
  anch: {plan: anchored, anchor_day: 15}
  drift: {anchor_day: 10}
  idle: {plan: pro}
`

// randomLedger is n calls between mid-September and mid-January in random
// order, with duplicates, unpriced, no-usage and invalid calls, calls
// without a tenant, feature or catalog model, and times on day and period
// boundaries.
func randomLedger(rng *rand.Rand, n int) []usage.Record {
	tenants := []string{"acme", "anch", "drift", "t1", "t2", "t3", "unattributed", ""}
	// The plans a tenant's calls name: drift changes between an anchor-day
	// plan and calendar ones; t2 between two plans without allowances (no
	// balances: the first call's plan decides, also within a day).
	plans := map[string][]string{
		"drift": {"anchored", "pro", ""},
		"t1":    {"", "starter", "pro", "nosuch"},
		"t2":    {"flat", "flat2"},
		"t3":    {"flat", ""},
	}
	all := []string{"", "flat", "flat2", "starter", "pro", "anchored", "nosuch"}
	models := []string{"gpt-4o", "gpt-4o-mini", "claude-sonnet-4"}
	from := time.Date(2026, 9, 14, 0, 0, 0, 0, time.UTC)
	days := 120
	out := make([]usage.Record, 0, n+n/10)
	for i := range n {
		var at time.Time
		switch rng.IntN(10) {
		case 0: // the first instant of a day
			at = from.AddDate(0, 0, rng.IntN(days))
		case 1: // the last instant of a day
			at = from.AddDate(0, 0, rng.IntN(days)+1).Add(-time.Nanosecond)
		default:
			at = from.Add(time.Duration(rng.Int64N(int64(days) * int64(24*time.Hour))))
		}
		tenant := tenants[rng.IntN(len(tenants))]
		choice := plans[tenant]
		if choice == nil {
			choice = all
		}
		id := fmt.Sprintf("%032x%016x", uint64(rng.Int64())<<1|uint64(i), uint64(i))
		r := usage.Record{EventID: id, TraceID: id[:32], SpanID: id[32:], Time: at, TenantID: tenant,
			Plan: choice[rng.IntN(len(choice))], Feature: []string{"", "chat", "search"}[rng.IntN(3)], Provider: "openai",
			Operation: "chat", RequestModel: models[rng.IntN(len(models))], InputTokens: rng.Int64N(3000), OutputTokens: rng.Int64N(800),
			Billable: true}
		if rng.IntN(2) == 0 {
			r.ResponseModel = r.RequestModel + "-2026"
		}
		// Amounts of up to 18 significant digits: a float sum gets them wrong.
		amount := func() string {
			return fmt.Sprintf("%d.%012d", rng.IntN(3), rng.Int64N(1_000_000_000_000))
		}
		switch k := rng.IntN(10); {
		case k < 6:
			r.PricingStatus, r.CatalogProvider, r.CatalogModel, r.CostUSD, r.CostSource = usage.StatusPriced, "openai", r.RequestModel, amount(), usage.CostSourceCatalog
			if rng.IntN(4) > 0 {
				r.RevenueUSD = amount()
			}
		case k < 8:
			r.PricingStatus = usage.StatusUnpriced
			if rng.IntN(3) == 0 {
				r.RevenueUSD = amount()
			}
		case k < 9:
			r.PricingStatus = usage.StatusNoUsage
			r.InputTokens, r.OutputTokens = 0, 0
		default:
			r.PricingStatus, r.Billable, r.BillableReason = usage.StatusInvalidUsage, false, "invalid_usage"
		}
		out = append(out, r)
	}
	// Duplicates: the same calls again, stored once.
	for range n / 10 {
		out = append(out, out[rng.IntN(n)])
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// reports renders every report of the periods from src as JSON: the margin
// report, and each tenant's margin and invoice preview.
func reports(t *testing.T, l Ledger, src source, tenants []string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	js := func(v any) string {
		b, err := json.MarshalIndent(v, "", " ")
		require.NoError(t, err)
		return string(b)
	}
	for _, name := range []string{"2026-09", "2026-10", "2026-11", "2026-12", "2027-01"} {
		p, err := ParsePeriod(name)
		require.NoError(t, err)
		rep, err := marginReport(ctx, l, p, src)
		require.NoError(t, err)
		out["margin "+name] = js(rep.JSON())
		for _, tenant := range tenants {
			m, err := tenantMargin(ctx, l, p, tenant, src)
			require.NoError(t, err)
			if m == nil {
				out["tenant "+name+" "+tenant] = "none"
				continue
			}
			inv := m.Invoice(p, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
			out["tenant "+name+" "+tenant] = js(m.JSON()) + js(inv) + js(inv.ForTenant()) + js(inv.Lines)
		}
	}
	return out
}

// reportLedger is a ledger of the equality test: its balances kept by the
// hook, and a second writer without the hook (an older collector).
type reportLedger struct {
	l            *balances.Ledger
	insert, bare func(recs []usage.Record)
}

func sqliteReportLedger(t *testing.T) reportLedger {
	path := filepath.Join(t.TempDir(), "usage.db")
	open := func() *sqlitestore.Store {
		st, err := sqlitestore.Open(path)
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		require.NoError(t, st.Migrate(context.Background()))
		return st
	}
	st, bare := open(), open()
	ins := func(s *sqlitestore.Store) func([]usage.Record) {
		return func(recs []usage.Record) {
			_, _, err := s.Insert(context.Background(), recs)
			require.NoError(t, err)
		}
	}
	return reportLedger{l: balances.ForSQLite(st, plans(t, randomPlans), true), insert: ins(st), bare: ins(bare)}
}

func pgReportLedger(t *testing.T) reportLedger {
	url := pgstoretest.NewDatabase(t)
	open := func() *pgstore.Store {
		cfg, err := pgxpool.ParseConfig(url)
		require.NoError(t, err)
		st, err := pgstore.Open(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(st.Close)
		require.NoError(t, st.Migrate(context.Background()))
		return st
	}
	st, bare := open(), open()
	ins := func(s *pgstore.Store) func([]usage.Record) {
		return func(recs []usage.Record) {
			_, _, err := s.Insert(context.Background(), recs)
			require.NoError(t, err)
		}
	}
	return reportLedger{l: balances.ForPostgres(st, plans(t, randomPlans), true), insert: ins(st), bare: ins(bare)}
}

// TestRollupReportsEqualRecordReports: the reports built from the daily
// usage rollup (what MarginReport, Tenant and InvoiceOf read) equal, to the
// last digit and flag, the reports built from the raw records, on random
// ledgers: calls arriving late and twice, unpriced, no-usage and invalid
// calls, calls without a tenant, plan changes within a period and within a
// day, an anchor-day plan; after a Rebuild; while a writer without the
// balances hook leaves the rollup behind (the reports then read the
// records) and after CatchUp.
func TestRollupReportsEqualRecordReports(t *testing.T) {
	for _, store := range []string{"sqlite", "postgres"} {
		t.Run(store, func(t *testing.T) {
			for seed := range uint64(2) {
				t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
					var rl reportLedger
					if store == "sqlite" {
						rl = sqliteReportLedger(t)
					} else {
						pgstoretest.ServerURL(t)
						rl = pgReportLedger(t)
					}
					rng := rand.New(rand.NewPCG(seed, 18))
					recs := randomLedger(rng, 1500)
					tenants := []string{"acme", "anch", "drift", "t1", "t2", "t3", "idle", "nobody"}
					// Batches of random sizes, in shuffled order: late arrivals.
					for len(recs) > 0 {
						k := min(len(recs), 1+rng.IntN(400))
						rl.insert(recs[:k])
						recs = recs[k:]
					}
					check := func(t *testing.T, wantRollup bool) {
						t.Helper()
						ok, err := rl.l.DailyUsage(context.Background(), "", time.Unix(0, 0), time.Now().AddDate(2, 0, 0), func(*usage.DailyUsage) error { return nil })
						require.NoError(t, err)
						require.Equal(t, wantRollup, ok, "the reports read the rollup")
						want, got := reports(t, rl.l, fromRecords, tenants), reports(t, rl.l, fromRollups, tenants)
						keys := make([]string, 0, len(want))
						for k := range want {
							keys = append(keys, k)
						}
						sort.Strings(keys)
						for _, k := range keys {
							assert.Equal(t, want[k], got[k], k)
						}
					}
					check(t, true)
					_, err := rl.l.Rebuild(context.Background())
					require.NoError(t, err)
					check(t, true)
					more := randomLedger(rand.New(rand.NewPCG(seed, 19)), 150)
					rl.bare(more)
					check(t, false)
					_, err = rl.l.CatchUp(context.Background())
					require.NoError(t, err)
					check(t, true)
				})
			}
		})
	}
}
