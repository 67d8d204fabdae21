// Package balances keeps entitlement balances, grants and daily usage rollups
// in the usage ledger itself (SQLite or PostgreSQL), updated in the same
// transaction as the records they count:
//
//   - Exactly once: the stores' insert hook hands over only the records a
//     batch actually stored (INSERT ... ON CONFLICT DO NOTHING RETURNING), and
//     a state row holds the last ledger position applied. A replayed call is
//     not new, a failed batch rolls its rollups back with its rows, and
//     records written without the hook (an older collector) are caught up in
//     ledger order before the next batch.
//   - Ledger order: calls are allocated in insertion order (the ledger's
//     sequence), not call-time order, so Rebuild, which replays the records
//     in that order through the same code, gives the same split.
//   - Incremental: a batch reads and writes only the rows of the tenants and
//     periods it touches; a question reads a few rows, never the month's
//     records.
package balances

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Ledger is the balances of one ledger database under the plans of a
// source. Safe for concurrent use.
type Ledger struct {
	plans *entitlement.Source
	be    backend
	// cache is the insert hook's cache of balances and grants (SQLite
	// only; nil otherwise), see bookCache.
	cache *bookCache

	// chunk overrides catchUpChunk and rebuiltChunk is called after each
	// chunk a rebuild applies: tests stop a rebuild half-way with them.
	chunk        int
	rebuiltChunk func()
}

// backend is how the Ledger reaches its database.
type backend interface {
	// write runs fn in a write transaction ordered with the ledger's inserts.
	write(ctx context.Context, fn func(q querier) error) error
	// read is for queries outside a write.
	read() querier
}

// Plans returns the plans in use.
func (l *Ledger) Plans() *entitlement.Plans { return l.plans.Plans() }

// inTx chunking: SQLite binds at most 32,766 parameters, PostgreSQL 65,535.
const maxParams = 30000

// apply allocates the records stored by one insert (in ledger order) and any
// earlier records not applied yet, in the insert's transaction.
// With c (the SQLite hook's cache; gen the Store's write generation), the
// batch loads only what c does not hold.
func (l *Ledger) apply(ctx context.Context, q querier, stored []item, c *bookCache, gen uint64) error {
	if len(stored) == 0 {
		return nil
	}
	applied, err := appliedSeq(ctx, q)
	if err != nil {
		return err
	}
	if c != nil {
		if err := c.begin(ctx, q, applied, gen); err != nil {
			return err
		}
	}
	var todo []item
	if stored[0].seq > applied+1 {
		// Records this hook did not see (written without it, or a gap in the
		// sequence): apply them first, in order.
		if err := readRecords(ctx, q, applied, stored[0].seq, 1<<62, func(it item) error {
			todo = append(todo, it)
			return nil
		}); err != nil {
			return fmt.Errorf("balances: catch up: %w", err)
		}
	}
	for _, it := range stored {
		if it.seq > applied {
			todo = append(todo, it)
		}
	}
	return l.applyItems(ctx, q, todo, c)
}

// applyItems applies todo (in ledger order) in q's transaction. With c, it
// loads through it and, on success, leaves in it what it wrote.
func (l *Ledger) applyItems(ctx context.Context, q querier, todo []item, c *bookCache) error {
	if len(todo) == 0 {
		return nil
	}
	book := entitlement.NewBook(l.plans.Plans())
	tps, tenants, err := loadFor(ctx, q, book, todo, c)
	if err != nil {
		return err
	}
	days := newDaily()
	var alerts thresholdAlerts
	for _, it := range todo {
		splits, err := book.Apply(it.seq, it.r)
		if err != nil {
			return fmt.Errorf("balances: %w", err)
		}
		if err := alerts.check(book, it.seq, it.r, splits); err != nil {
			return fmt.Errorf("balances: %w", err)
		}
		days.add(it.r)
	}
	if err := days.save(ctx, q); err != nil {
		return err
	}
	if err := spikes(ctx, q, book, todo, &alerts); err != nil {
		return err
	}
	// The alerts commit with the balances that crossed them: exactly once.
	if err := alerts.save(ctx, q); err != nil {
		return err
	}
	if err := saveBook(ctx, q, book); err != nil {
		return err
	}
	last := todo[len(todo)-1].seq
	if err := q.exec(ctx, `UPDATE genaimeter_balance_state SET applied_seq = $1`, last); err != nil {
		return fmt.Errorf("balances: state: %w", err)
	}
	if c != nil {
		return c.commit(book, tps, tenants, last)
	}
	return nil
}

func appliedSeq(ctx context.Context, q querier) (int64, error) {
	var applied int64
	found := false
	err := q.query(ctx, `SELECT applied_seq FROM genaimeter_balance_state`, nil, func(scan func(...any) error) error {
		found = true
		return scan(&applied)
	})
	if err == nil && !found {
		err = errors.New("no state row")
	}
	if err != nil {
		return 0, fmt.Errorf("balances: read state: %w", err)
	}
	return applied, nil
}

// loadFor loads into book the balances of the tenants and periods the items
// fall in, and those tenants' grants, from c (if not nil) where it holds
// them, else from the database; it returns those tenants and periods.
func loadFor(ctx context.Context, q querier, book *entitlement.Book, todo []item, c *bookCache) (map[tenantPeriod]bool, map[string]bool, error) {
	tps := map[tenantPeriod]bool{}
	tenants := map[string]bool{}
	byPeriod := map[int64]map[string]bool{}
	missingGrants := map[string]bool{}
	for _, it := range todo {
		tenant, start, ok := book.PeriodOf(it.r)
		if !ok {
			continue
		}
		tp := tenantPeriod{tenant, start.Unix()}
		if tps[tp] {
			continue
		}
		tps[tp] = true
		if bs, hit := c.lookupPeriod(tp); hit {
			for _, b := range bs {
				book.Balances[b.BalanceKey] = b
			}
		} else {
			ts := byPeriod[tp.period]
			if ts == nil {
				ts = map[string]bool{}
				byPeriod[tp.period] = ts
			}
			ts[tenant] = true
		}
		if !tenants[tenant] {
			tenants[tenant] = true
			if gs, hit := c.lookupGrants(tenant); hit {
				if len(gs) > 0 {
					book.Grants[tenant] = gs
				}
			} else {
				missingGrants[tenant] = true
			}
		}
	}
	for period, ts := range byPeriod {
		if err := loadBalances(ctx, q, book.Balances, period, keys(ts)); err != nil {
			return nil, nil, err
		}
	}
	return tps, tenants, loadGrants(ctx, q, book, keys(missingGrants))
}

const balanceColumns = `tenant_id, period_start, allowance, period_end, plan, meter, amount::text, used::text, included::text,
	granted::text, overage::text, overage_usd::text, calls, unmetered, overage_unpriced`

func scanBalance(scan func(...any) error) (*entitlement.Balance, error) {
	b := &entitlement.Balance{}
	var start, end int64
	var amount, used, included, granted, overage, overageUSD string
	if err := scan(&b.Tenant, &start, &b.Allowance, &end, &b.Plan, &b.Meter, &amount, &used, &included, &granted,
		&overage, &overageUSD, &b.Calls, &b.Unmetered, &b.OverageUnpriced); err != nil {
		return nil, err
	}
	b.Period, b.End = time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
	for _, f := range []struct {
		dst *apd.Decimal
		s   string
	}{{&b.Amount, amount}, {&b.Used, used}, {&b.Included, included}, {&b.Granted, granted}, {&b.Overage, overage}, {&b.OverageUSD, overageUSD}} {
		d, err := money.Parse(f.s)
		if err != nil {
			return nil, fmt.Errorf("balance %s/%d/%s: %w", b.Tenant, start, b.Allowance, err)
		}
		*f.dst = d
	}
	return b, nil
}

func loadBalances(ctx context.Context, q querier, into map[entitlement.BalanceKey]*entitlement.Balance, period int64, tenants []string) error {
	for len(tenants) > 0 {
		n := chunkSizes(len(tenants), inListChunk)[0]
		args := []any{period}
		for _, t := range tenants[:n] {
			args = append(args, t)
		}
		err := q.query(ctx, `SELECT `+balanceColumns+` FROM genaimeter_balances WHERE period_start = $1 AND tenant_id IN (`+inList(n, 2)+`)`, args,
			func(scan func(...any) error) error {
				b, err := scanBalance(scan)
				if err != nil {
					return err
				}
				into[b.BalanceKey] = b
				return nil
			})
		if err != nil {
			return fmt.Errorf("balances: load: %w", err)
		}
		tenants = tenants[n:]
	}
	return nil
}

const grantColumns = `grant_id, tenant_id, meter, amount::text, used::text, effective, expires, priority, after_seq, voided_seq, note, created`

func scanGrant(scan func(...any) error) (*entitlement.Grant, error) {
	g := &entitlement.Grant{}
	var amount, used string
	var effective, expires, created int64
	if err := scan(&g.ID, &g.Tenant, &g.Meter, &amount, &used, &effective, &expires, &g.Priority, &g.AfterSeq, &g.VoidedSeq, &g.Note, &created); err != nil {
		return nil, err
	}
	var err error
	if g.Amount, err = money.Parse(amount); err != nil {
		return nil, err
	}
	if g.Used, err = money.Parse(used); err != nil {
		return nil, err
	}
	g.Effective = time.Unix(0, effective).UTC()
	if expires != 0 {
		g.Expires = time.Unix(0, expires).UTC()
	}
	g.Created = time.Unix(0, created).UTC()
	return g, nil
}

func loadGrants(ctx context.Context, q querier, book *entitlement.Book, tenants []string) error {
	all := tenants
	for len(tenants) > 0 {
		n := chunkSizes(len(tenants), inListChunk)[0]
		args := make([]any, 0, n)
		for _, t := range tenants[:n] {
			args = append(args, t)
		}
		err := q.query(ctx, `SELECT `+grantColumns+` FROM genaimeter_grants WHERE tenant_id IN (`+inList(n, 1)+`)`, args,
			func(scan func(...any) error) error {
				g, err := scanGrant(scan)
				if err != nil {
					return err
				}
				book.Grants[g.Tenant] = append(book.Grants[g.Tenant], g)
				return nil
			})
		if err != nil {
			return fmt.Errorf("balances: load grants: %w", err)
		}
		tenants = tenants[n:]
	}
	for _, t := range all {
		if gs := book.Grants[t]; len(gs) > 1 {
			entitlement.SortGrants(gs)
		}
	}
	return nil
}

// saveBook writes the balances and grants the batch changed.
func saveBook(ctx context.Context, q querier, book *entitlement.Book) error {
	var rows [][]any
	for _, b := range book.Balances {
		if !b.Dirty {
			continue
		}
		rows = append(rows, []any{b.Tenant, b.Period.Unix(), b.Allowance, b.End.Unix(), b.Plan, b.Meter,
			money.Format(&b.Amount), money.Format(&b.Used), money.Format(&b.Included), money.Format(&b.Granted),
			money.Format(&b.Overage), money.Format(&b.OverageUSD), b.Calls, b.Unmetered, b.OverageUnpriced})
	}
	if err := upsert(ctx, q, `genaimeter_balances`, `tenant_id, period_start, allowance, period_end, plan, meter, amount, used, included,
		granted, overage, overage_usd, calls, unmetered, overage_unpriced`, `tenant_id, period_start, allowance`,
		// plan and amount follow the latest call (entitlement.Book.balance).
		`period_end = excluded.period_end, plan = excluded.plan, meter = excluded.meter, amount = excluded.amount,
		used = excluded.used, included = excluded.included, granted = excluded.granted, overage = excluded.overage,
		overage_usd = excluded.overage_usd, calls = excluded.calls, unmetered = excluded.unmetered, overage_unpriced = excluded.overage_unpriced`,
		15, rows); err != nil {
		return fmt.Errorf("balances: save: %w", err)
	}
	return saveGrants(ctx, q, book)
}

// saveGrants writes the used amount of the grants the batch burned, in
// UPDATEs of up to inListChunk grants each (one statement per grant was one
// round of the statement machinery per tenant with a grant), in grant id
// order: two writers of one PostgreSQL ledger lock rows alike.
func saveGrants(ctx context.Context, q querier, book *entitlement.Book) error {
	var dirty []*entitlement.Grant
	for _, gs := range book.Grants {
		for _, g := range gs {
			if g.Dirty {
				dirty = append(dirty, g)
			}
		}
	}
	sort.Slice(dirty, func(i, j int) bool { return dirty[i].ID < dirty[j].ID })
	for _, n := range chunkSizes(len(dirty), inListChunk) {
		args := make([]any, 0, 2*n)
		for _, g := range dirty[:n] {
			args = append(args, g.ID, money.Format(&g.Used))
		}
		// A VALUES list of (id, used) joined to the grants: SQLite names its
		// columns column1, column2; PostgreSQL takes them named and reads
		// the text as numeric.
		stmt := `UPDATE genaimeter_grants AS g SET used = v.used::numeric FROM (VALUES ` + placeholders(n, 2, 1) +
			`) AS v(id, used) WHERE g.grant_id = v.id`
		if q.sqlite() {
			stmt = `UPDATE genaimeter_grants SET used = v.column2 FROM (VALUES ` + placeholders(n, 2, 1) +
				`) AS v WHERE genaimeter_grants.grant_id = v.column1`
		}
		if err := q.exec(ctx, stmt, args...); err != nil {
			return fmt.Errorf("balances: save grants %s..%s: %w", dirty[0].ID, dirty[n-1].ID, err)
		}
		dirty = dirty[n:]
	}
	return nil
}

// upsert inserts rows of n columns, updating set on a conflict of key, in
// statements of chunkSizes rows.
func upsert(ctx context.Context, q querier, table, cols, key, set string, n int, rows [][]any) error {
	for _, k := range chunkSizes(len(rows), maxRows(n)) {
		args := make([]any, 0, k*n)
		for _, r := range rows[:k] {
			args = append(args, r...)
		}
		if err := q.exec(ctx, `INSERT INTO `+table+` (`+cols+`) VALUES `+placeholders(k, n, 1)+
			` ON CONFLICT (`+key+`) DO UPDATE SET `+set, args...); err != nil {
			return err
		}
		rows = rows[k:]
	}
	return nil
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// dayKey is one row of genaimeter_daily_usage. The plan is the record's
// (usage.Record.Plan): with the day it places the row's calls in one billing
// period, which the finance reports need (Ledger.DailyUsage).
type dayKey struct {
	tenant                         string
	day                            int64
	feature, provider, model, plan string
}

type dayRow struct {
	calls, unpriced, input, output int64
	cost, revenue                  apd.Decimal
}

// daily accumulates a batch's usage per tenant, day, feature, model and plan.
type daily struct {
	rows map[dayKey]*dayRow
}

func newDaily() *daily { return &daily{rows: map[dayKey]*dayRow{}} }

func dayOf(t time.Time) int64 {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()
}

func (d *daily) add(r *usage.Record) {
	tenant := r.TenantID
	if tenant == "" {
		tenant = usage.Unattributed
	}
	k := dayKey{tenant: tenant, day: dayOf(r.Time), feature: r.Feature, provider: entitlement.ProviderOf(r), model: entitlement.ModelOf(r), plan: r.Plan}
	row := d.rows[k]
	if row == nil {
		row = &dayRow{}
		d.rows[k] = row
	}
	row.calls++
	row.input += r.InputTokens
	row.output += r.OutputTokens
	if r.CostUSD == "" {
		row.unpriced++
	} else if c, err := money.Parse(r.CostUSD); err == nil { // stores validate cost
		add(&row.cost, &c)
	}
	if r.RevenueUSD != "" {
		if v, err := money.Parse(r.RevenueUSD); err == nil {
			add(&row.revenue, &v)
		}
	}
}

// save adds the batch's rows to the stored ones in the upsert itself, without
// reading them first: PostgreSQL adds numeric exactly, SQLite adds its
// decimal text with genaimeter_decimal_add.
func (d *daily) save(ctx context.Context, q querier) error {
	if len(d.rows) == 0 {
		return nil
	}
	rows := make([][]any, 0, len(d.rows))
	// A batch's plans are a handful: each is boxed into an interface once,
	// not once per row (the plan column cost an allocation per row).
	plans := map[string]any{}
	for k, r := range d.rows {
		plan, ok := plans[k.plan]
		if !ok {
			plan = k.plan
			plans[k.plan] = plan
		}
		rows = append(rows, []any{k.tenant, k.day, k.feature, k.provider, k.model, plan, r.calls, r.unpriced, r.input, r.output,
			money.Format(&r.cost), money.Format(&r.revenue)})
	}
	set := `calls = t.calls + excluded.calls, unpriced_calls = t.unpriced_calls + excluded.unpriced_calls,
		input_tokens = t.input_tokens + excluded.input_tokens, output_tokens = t.output_tokens + excluded.output_tokens,
		cost_usd = t.cost_usd + excluded.cost_usd, revenue_usd = t.revenue_usd + excluded.revenue_usd`
	if q.sqlite() {
		set = `calls = t.calls + excluded.calls, unpriced_calls = t.unpriced_calls + excluded.unpriced_calls,
		input_tokens = t.input_tokens + excluded.input_tokens, output_tokens = t.output_tokens + excluded.output_tokens,
		cost_usd = ` + sqlitestore.DecimalAdd + `(t.cost_usd, excluded.cost_usd), revenue_usd = ` + sqlitestore.DecimalAdd + `(t.revenue_usd, excluded.revenue_usd)`
	}
	if err := upsert(ctx, q, `genaimeter_daily_usage AS t`, sqlitestore.DailyUsageColumns,
		`tenant_id, day, feature, provider, model, plan`, set, 12, rows); err != nil {
		return fmt.Errorf("balances: save daily usage: %w", err)
	}
	return nil
}

func add(dst, x *apd.Decimal) { _ = money.Add(dst, dst, x) }
