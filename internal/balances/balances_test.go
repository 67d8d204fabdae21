package balances

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

const testPlans = `
default_plan: free
plans:
  free:
    credits_per_usd: "1000"
    allowances:
      - {name: credits, meter: credits, amount: "100", limit: hard}
  pro:
    monthly_fee: "99"
    credits_per_usd: "1000"
    allowances:
      - {name: credits, meter: credits, amount: "10000", limit: soft}
      - {name: output, meter: tokens, bucket: output, amount: "5000", limit: soft, overage_price: "0.00001", filter: {model: "gpt-*"}}
  team:
    billing_period: anchor_day
    allowances:
      - {name: calls, meter: calls, amount: "40", limit: soft, overage_price: "0.5"}
      - {name: spend, meter: cost_usd, amount: "0.5", limit: hard}
tenants:
  t03: {plan: team, anchor_day: 17}
`

func plansSource(t testing.TB) *entitlement.Source {
	ps, err := entitlement.Parse([]byte(testPlans))
	require.NoError(t, err)
	return entitlement.StaticSource(ps)
}

// env is one ledger under test.
type env struct {
	name   string
	l      *Ledger
	insert func(recs []usage.Record) (int, error)
	// second is another writer on the same database (PostgreSQL: another
	// collector), or nil.
	second func(recs []usage.Record) (int, error)
	// bare inserts without the hook (an older collector).
	bare func(recs []usage.Record) (int, error)
}

func sqliteEnv(t testing.TB, plans *entitlement.Source) env {
	path := filepath.Join(t.TempDir(), "usage.db")
	st, err := sqlitestore.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(context.Background()))
	bare, err := sqlitestore.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = bare.Close() })
	l := ForSQLite(st, plans, true)
	ins := func(s *sqlitestore.Store) func([]usage.Record) (int, error) {
		return func(recs []usage.Record) (int, error) {
			n, _, err := s.Insert(context.Background(), recs)
			return n, err
		}
	}
	return env{name: "sqlite", l: l, insert: ins(st), bare: ins(bare)}
}

func pgEnv(t testing.TB, plans *entitlement.Source) env {
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
	st, st2, bare := open(), open(), open()
	l := ForPostgres(st, plans, true)
	ForPostgres(st2, plans, true)
	ins := func(s *pgstore.Store) func([]usage.Record) (int, error) {
		return func(recs []usage.Record) (int, error) {
			n, _, err := s.Insert(context.Background(), recs)
			return n, err
		}
	}
	return env{name: "postgres", l: l, insert: ins(st), second: ins(st2), bare: ins(bare)}
}

// forEachStore runs f on SQLite and on PostgreSQL (skipped without a server).
func forEachStore(t *testing.T, f func(t *testing.T, e env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteEnv(t, plansSource(t))) })
	t.Run("postgres", func(t *testing.T) {
		pgstoretest.ServerURL(t)
		f(t, pgEnv(t, plansSource(t)))
	})
}

// snapshot renders every balance, grant and daily rollup row as text with
// canonical decimals, in key order.
func snapshot(t *testing.T, l *Ledger) string {
	t.Helper()
	ctx := context.Background()
	q := l.be.read()
	var b strings.Builder
	canon := func(s string) string {
		d, err := money.Parse(s)
		require.NoError(t, err)
		return money.Format(&d)
	}
	require.NoError(t, q.query(ctx, `SELECT `+balanceColumns+` FROM genaimeter_balances ORDER BY tenant_id, period_start, allowance`, nil,
		func(scan func(...any) error) error {
			bal, err := scanBalance(scan)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "balance %s %s %s plan=%s amount=%s used=%s included=%s granted=%s overage=%s usd=%s calls=%d unmetered=%d unpriced=%d\n",
				bal.Tenant, bal.Period.Format(time.DateOnly), bal.Allowance, bal.Plan, money.Format(&bal.Amount), money.Format(&bal.Used),
				money.Format(&bal.Included), money.Format(&bal.Granted), money.Format(&bal.Overage), money.Format(&bal.OverageUSD),
				bal.Calls, bal.Unmetered, bal.OverageUnpriced)
			return nil
		}))
	require.NoError(t, q.query(ctx, `SELECT grant_id, used::text FROM genaimeter_grants ORDER BY grant_id`, nil, func(scan func(...any) error) error {
		var id, used string
		if err := scan(&id, &used); err != nil {
			return err
		}
		fmt.Fprintf(&b, "grant %s used=%s\n", id, canon(used))
		return nil
	}))
	require.NoError(t, q.query(ctx, `SELECT tenant_id, day, feature, provider, model, plan, calls, unpriced_calls, input_tokens, output_tokens, cost_usd::text, revenue_usd::text
		FROM genaimeter_daily_usage ORDER BY tenant_id, day, feature, provider, model, plan`, nil, func(scan func(...any) error) error {
		var tenant, feature, provider, model, plan, cost, rev string
		var day, calls, unpriced, in, out int64
		if err := scan(&tenant, &day, &feature, &provider, &model, &plan, &calls, &unpriced, &in, &out, &cost, &rev); err != nil {
			return err
		}
		fmt.Fprintf(&b, "day %s %d %s %s/%s plan=%s calls=%d unpriced=%d in=%d out=%d cost=%s revenue=%s\n", tenant, day, feature, provider, model,
			plan, calls, unpriced, in, out, canon(cost), canon(rev))
		return nil
	}))
	return b.String()
}

var base = time.Date(2026, 11, 14, 12, 0, 0, 0, time.UTC)

// genRecords makes n calls across tenants t00..t09 with revenues and costs
// that a float sum gets wrong, models in and out of filters, unpriced calls,
// times over two months and out of order.
func genRecords(rng *rand.Rand, from, n int) []usage.Record {
	recs := make([]usage.Record, n)
	models := []string{"gpt-4o", "gpt-4o-mini", "claude-sonnet-4", "mystery"}
	for i := range recs {
		k := from + i
		m := models[rng.IntN(len(models))]
		r := usage.Record{
			EventID: fmt.Sprintf("%048x", fmt.Sprintf("ev%07d", k)), TenantID: fmt.Sprintf("t%02d", rng.IntN(10)),
			Time:     base.Add(time.Duration(rng.IntN(40*24)) * time.Hour).Add(-20 * 24 * time.Hour),
			Provider: "openai", CatalogProvider: "openai", CatalogModel: m, Operation: "chat",
			Feature:     []string{"chat", "search", ""}[rng.IntN(3)],
			InputTokens: int64(rng.IntN(5000)), OutputTokens: int64(rng.IntN(900)),
			PricingStatus: usage.StatusPriced, Billable: rng.IntN(5) > 0,
		}
		// billing.plans: even tenants are on pro; t04 upgrades mid-month.
		if tn := r.TenantID[2] - '0'; tn%2 == 0 && (tn != 4 || r.Time.After(base)) {
			r.Plan = "pro"
		}
		if m == "mystery" {
			r.PricingStatus, r.CatalogModel, r.RequestModel = usage.StatusUnpriced, "", "mystery"
		} else {
			r.CostUSD = fmt.Sprintf("0.%06d1", rng.IntN(1000000))
			r.RevenueUSD = fmt.Sprintf("0.%05d03", rng.IntN(100000))
		}
		recs[i] = r
	}
	return recs
}

// TestIncrementalEqualsRebuild: balances kept batch by batch — with replays,
// repeats within batches, calls arriving out of time order, grants created
// and voided in between, and (PostgreSQL) two collectors writing at once —
// equal a rebuild from the records in ledger order, to the digit.
func TestIncrementalEqualsRebuild(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(1, 2))
		all := genRecords(rng, 0, 3000)
		// Every third priced call carries its rate card's exact credits, which
		// the credits allowances count instead of revenue × credits_per_usd:
		// the rebuild must read them back from the ledger to agree.
		for i := range all {
			if i%3 == 0 && all[i].RevenueUSD != "" {
				all[i].Credits = fmt.Sprintf("%d.%019d", i%7, i)
			}
		}
		for _, tenant := range []string{"t00", "t01", "t03", "t05"} {
			require.NoError(t, e.l.CreateGrant(ctx, &entitlement.Grant{Tenant: tenant, Amount: money.MustParse("700.5"), Priority: 1,
				Effective: base.AddDate(0, 0, -30)}, "test"))
		}
		var voidLater string
		inserted := 0
		for start := 0; start < len(all); {
			n := min(1+rng.IntN(400), len(all)-start)
			batch := append([]usage.Record(nil), all[start:start+n]...)
			// A replay of earlier records and a repeat within the batch.
			if start > 0 {
				batch = append(batch, all[rng.IntN(start)])
			}
			batch = append(batch, batch[0])
			if e.second != nil && rng.IntN(2) == 0 {
				// Split the batch between two collectors writing at once.
				half := len(batch) / 2
				var wg sync.WaitGroup
				var n1, n2 int
				var err1, err2 error
				wg.Add(2)
				go func() { defer wg.Done(); n1, err1 = e.insert(batch[:half]) }()
				go func() { defer wg.Done(); n2, err2 = e.second(batch[half:]) }()
				wg.Wait()
				require.NoError(t, err1)
				require.NoError(t, err2)
				inserted += n1 + n2
			} else {
				got, err := e.insert(batch)
				require.NoError(t, err)
				inserted += got
			}
			start += n
			switch {
			case start > 1000 && voidLater == "":
				g := &entitlement.Grant{Tenant: "t02", Amount: money.MustParse("333.3333"), Priority: 0,
					Expires: base.AddDate(0, 0, 5)}
				require.NoError(t, e.l.CreateGrant(ctx, g, "test"))
				voidLater = g.ID
			case start > 2000 && voidLater != "" && voidLater != "done":
				_, err := e.l.VoidGrant(ctx, voidLater, "test", "refund")
				require.NoError(t, err)
				voidLater = "done"
			}
		}
		assert.Equal(t, len(all), inserted, "each call stored once")
		incremental := snapshot(t, e.l)
		require.Regexp(t, `granted=[1-9]`, incremental, "grants were burned")
		require.Regexp(t, `grant gr_[0-9a-f]+ used=333.3333`, incremental, "the voided grant was used up before its void")
		n, err := e.l.Rebuild(ctx)
		require.NoError(t, err)
		assert.Equal(t, len(all), n)
		assert.Equal(t, incremental, snapshot(t, e.l))

		// The rollups' money is the exact sum of the stored calls'.
		var cost apd.Decimal
		for _, r := range all {
			if r.CostUSD != "" {
				c := money.MustParse(r.CostUSD)
				add(&cost, &c)
			}
		}
		rows, err := e.l.Usage(ctx, "", time.Time{}, time.Time{}, nil)
		require.NoError(t, err)
		assert.Empty(t, rows)
		var sum apd.Decimal
		for i := range 10 {
			rows, err := e.l.Usage(ctx, fmt.Sprintf("t%02d", i), base.AddDate(0, -2, 0), base.AddDate(0, 2, 0), nil)
			require.NoError(t, err)
			require.Len(t, rows, 1)
			add(&sum, &rows[0].CostUSD)
		}
		assert.Equal(t, money.Format(&cost), money.Format(&sum))
		checkInvariants(t, e.l)
	})
}

// checkInvariants: included + granted + overage = used for every balance;
// included never exceeds the amount.
func checkInvariants(t *testing.T, l *Ledger) {
	require.NoError(t, l.be.read().query(context.Background(), `SELECT `+balanceColumns+` FROM genaimeter_balances`, nil, func(scan func(...any) error) error {
		b, err := scanBalance(scan)
		if err != nil {
			return err
		}
		var s apd.Decimal
		add(&s, &b.Included)
		add(&s, &b.Granted)
		add(&s, &b.Overage)
		assert.Equal(t, money.Format(&b.Used), money.Format(&s), "%+v", b.BalanceKey)
		assert.LessOrEqual(t, b.Included.Cmp(&b.Amount), 0)
		return nil
	}))
}

// TestReplayChangesNothing: a batch delivered again leaves every balance as it was.
func TestReplayChangesNothing(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		recs := genRecords(rand.New(rand.NewPCG(3, 4)), 0, 500)
		_, err := e.insert(recs)
		require.NoError(t, err)
		before := snapshot(t, e.l)
		n, err := e.insert(recs)
		require.NoError(t, err)
		assert.Equal(t, 0, n)
		if e.second != nil {
			n, err = e.second(recs)
			require.NoError(t, err)
			assert.Equal(t, 0, n)
		}
		assert.Equal(t, before, snapshot(t, e.l))
	})
}

// TestFreshnessAndExactSplit: once an insert returns, Check and Status
// include it (no waiting), with the exact split: included, then the grant,
// then overage.
func TestFreshnessAndExactSplit(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		g := &entitlement.Grant{Tenant: "acme", Amount: money.MustParse("50"), Effective: base.AddDate(0, 0, -1)}
		require.NoError(t, e.l.CreateGrant(ctx, g, "admin-key"))
		call := func(id, revenue string) usage.Record {
			return usage.Record{EventID: fmt.Sprintf("%048x", id), TenantID: "acme", Time: base, CatalogProvider: "openai", CatalogModel: "o3",
				PricingStatus: usage.StatusPriced, CostUSD: "0.01", RevenueUSD: revenue, Billable: true}
		}
		req := entitlement.CheckRequest{Tenant: "acme", At: base}
		for i, tc := range []struct {
			revenue, remaining string
			allowed            bool
		}{
			{"0.06", "90", true},  // 60 of the 100 free credits; 40 + the grant's 50 left
			{"0.05", "40", true},  // 40 included, 10 of the grant
			{"0.04", "0", false},  // the grant's last 40: nothing left, hard limit
			{"0.002", "0", false}, // 2 credits over the limit (the call was made anyway)
		} {
			_, err := e.insert([]usage.Record{call(fmt.Sprint(i), tc.revenue)})
			require.NoError(t, err)
			res, err := e.l.Check(ctx, req)
			require.NoError(t, err)
			assert.Equal(t, tc.allowed, res.Allowed, "call %d", i)
			assert.Equal(t, tc.remaining, money.Format(&res.Allowances[0].Remaining), "call %d", i)
		}
		st, err := e.l.Status(ctx, "acme", base)
		require.NoError(t, err)
		assert.Equal(t, entitlement.ReasonLimitReached, st.Reason)
		assert.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), st.ResetsAt)
		require.Len(t, st.Balances, 1)
		b := st.Balances[0]
		assert.Equal(t, []string{"152", "100", "50", "2", "0.002"},
			[]string{money.Format(&b.Used), money.Format(&b.Included), money.Format(&b.Granted), money.Format(&b.Overage), money.Format(&b.OverageUSD)})
		require.Len(t, st.Grants, 1)
		assert.Equal(t, "0", money.Format(&st.Grants[0].Remaining))
	})
}

// TestCatchUpOfRecordsWrittenWithoutHook: records stored by a writer without
// the hook (or before the balances existed) are applied, in ledger order, by
// the next hooked insert and by CatchUp.
func TestCatchUpOfRecordsWrittenWithoutHook(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		rng := rand.New(rand.NewPCG(5, 6))
		recs := genRecords(rng, 0, 600)
		_, err := e.bare(recs[:300])
		require.NoError(t, err)
		_, err = e.insert(recs[300:400])
		require.NoError(t, err)
		_, err = e.bare(recs[400:])
		require.NoError(t, err)
		n, err := e.l.CatchUp(context.Background())
		require.NoError(t, err)
		assert.Equal(t, 200, n)
		got := snapshot(t, e.l)
		_, err = e.l.Rebuild(context.Background())
		require.NoError(t, err)
		assert.Equal(t, got, snapshot(t, e.l))
		assert.Contains(t, got, "day t0")
	})
}

func TestGrantsAreAudited(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		g := &entitlement.Grant{Tenant: "acme", Amount: money.MustParse("10"), Priority: 2, Note: "promo"}
		require.NoError(t, e.l.CreateGrant(ctx, g, "key1"))
		gs, err := e.l.VoidGrant(ctx, g.ID, "key2", "mistake")
		require.NoError(t, err)
		assert.True(t, gs.Voided)
		_, err = e.l.VoidGrant(ctx, "nope", "key2", "")
		assert.ErrorIs(t, err, ErrNotFound)
		a, err := e.l.Audit(ctx, 0, 10)
		require.NoError(t, err)
		require.Len(t, a, 2)
		assert.Equal(t, []string{"key1", "grant.create", "acme", g.ID}, []string{a[0].Actor, a[0].Action, a[0].Tenant, a[0].Subject})
		assert.Contains(t, a[0].Detail, `"amount":"10"`)
		assert.Equal(t, []string{"key2", "grant.void", "acme", g.ID}, []string{a[1].Actor, a[1].Action, a[1].Tenant, a[1].Subject})
		assert.JSONEq(t, `{"reason":"mistake","voided_seq":-1}`, a[1].Detail)
	})
}

func TestKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		tok, k, err := e.l.CreateKey(ctx, "acme", "app", "cli")
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(tok, "gmk_"+k.ID+"_"))
		got, err := e.l.Authenticate(ctx, tok)
		require.NoError(t, err)
		assert.Equal(t, "acme", got.Tenant)
		assert.False(t, got.Admin())
		admin, _, err := e.l.CreateKey(ctx, "", "ops", "cli")
		require.NoError(t, err)
		got, err = e.l.Authenticate(ctx, admin)
		require.NoError(t, err)
		assert.True(t, got.Admin())

		for _, bad := range []string{"", "gmk_", "Bearer " + tok, tok + "0", tok[:len(tok)-1] + "x", "gmk_ffffffffffffffff_" + tok[len(tok)-64:]} {
			_, err := e.l.Authenticate(ctx, bad)
			assert.ErrorIs(t, err, ErrBadKey, bad)
		}
		require.NoError(t, e.l.RevokeKey(ctx, k.ID, "cli"))
		_, err = e.l.Authenticate(ctx, tok)
		assert.ErrorIs(t, err, ErrBadKey)
		assert.ErrorIs(t, e.l.RevokeKey(ctx, "nope", "cli"), ErrNotFound)
		keys, err := e.l.Keys(ctx)
		require.NoError(t, err)
		require.Len(t, keys, 2)
		assert.False(t, keys[0].Revoked.IsZero())
		// The secret is not stored, only its hash.
		var stored string
		require.NoError(t, e.l.be.read().query(ctx, `SELECT secret_hash FROM genaimeter_api_keys WHERE key_id = $1`, []any{k.ID},
			func(scan func(...any) error) error { return scan(&stored) }))
		assert.NotContains(t, tok, stored)
		assert.Len(t, stored, 64)
	})
}
