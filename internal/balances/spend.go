package balances

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// spendKey is one spend bucket: a tenant's (feature "": all its calls) AI
// cost over [start, start+bucket), start in unix nanoseconds.
type spendKey struct {
	tenant, feature string
	bucket          time.Duration
	start           int64
}

type spendRow struct {
	cost  apd.Decimal
	first int64 // unix ns of the earliest priced call
}

// spendOf adds r (a priced call of a tenant) to the buckets of every length
// in lengths.
func spendOf(into map[spendKey]*spendRow, lengths []time.Duration, r *usage.Record) error {
	if r.TenantID == "" || r.CostUSD == "" {
		return nil
	}
	cost, err := money.Parse(r.CostUSD)
	if err != nil { // stores validate cost
		return fmt.Errorf("event %s: cost_usd: %w", r.EventID, err)
	}
	at := r.Time.UTC()
	for _, b := range lengths {
		start := at.Truncate(b).UnixNano()
		for _, f := range [2]string{"", r.Feature} {
			k := spendKey{tenant: r.TenantID, feature: f, bucket: b, start: start}
			row := into[k]
			if row == nil {
				row = &spendRow{first: at.UnixNano()}
				into[k] = row
			}
			add(&row.cost, &cost)
			row.first = min(row.first, at.UnixNano())
			if r.Feature == "" {
				break
			}
		}
	}
	return nil
}

// rollSpend adds the batch's priced calls to every kept bucket length, after
// starting the lengths in need that are not kept yet (filled from the
// records applied before the batch), and returns the touched buckets' new
// totals.
func rollSpend(ctx context.Context, q querier, todo []item, need map[time.Duration]bool) (map[spendKey]*spendRow, error) {
	kept := map[time.Duration]bool{}
	if err := q.query(ctx, `SELECT bucket_ns FROM genaimeter_spend_buckets`, nil, func(scan func(...any) error) error {
		var ns int64
		if err := scan(&ns); err != nil {
			return err
		}
		kept[time.Duration(ns)] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("balances: spend buckets: %w", err)
	}
	var start []time.Duration
	for b := range need {
		if !kept[b] {
			start = append(start, b)
		}
	}
	if len(start) > 0 && len(todo) > 0 {
		if err := backfillSpend(ctx, q, start, todo[0].seq); err != nil {
			return nil, err
		}
		for _, b := range start {
			kept[b] = true
		}
	}
	if len(kept) == 0 {
		return nil, nil
	}
	lengths := make([]time.Duration, 0, len(kept))
	for b := range kept {
		lengths = append(lengths, b)
	}
	sort.Slice(lengths, func(i, j int) bool { return lengths[i] < lengths[j] })
	delta := map[spendKey]*spendRow{}
	for _, it := range todo {
		if err := spendOf(delta, lengths, it.r); err != nil {
			return nil, fmt.Errorf("balances: spend: %w", err)
		}
	}
	return saveSpend(ctx, q, delta, true)
}

// backfillSpend starts keeping the bucket lengths: it sums every priced call
// stored before seq `before` (the records applied so far) into them, in one
// pass over the ledger. It runs once per length (a new spike rule, the first
// batch after the migration, or a rebuild, where there is nothing before).
func backfillSpend(ctx context.Context, q querier, lengths []time.Duration, before int64) error {
	stmt := `SELECT tenant_id, feature, time, cost_usd::text FROM usage_records WHERE seq < $1 AND tenant_id IS NOT NULL AND cost_usd IS NOT NULL`
	if q.sqlite() {
		stmt = `SELECT tenant_id, feature, time, cost_usd FROM usage_records WHERE rowid < $1 AND tenant_id IS NOT NULL AND cost_usd IS NOT NULL`
	}
	rows := map[spendKey]*spendRow{}
	r := &usage.Record{}
	err := q.query(ctx, stmt, []any{before}, func(scan func(...any) error) error {
		var feature *string
		var when any
		if err := scan(&r.TenantID, &feature, &when, &r.CostUSD); err != nil {
			return err
		}
		r.Feature = ""
		if feature != nil {
			r.Feature = *feature
		}
		t, err := scanTime(when)
		if err != nil {
			return err
		}
		r.Time = t
		return spendOf(rows, lengths, r)
	})
	if err != nil {
		return fmt.Errorf("balances: fill spend buckets: %w", err)
	}
	if _, err := saveSpend(ctx, q, rows, false); err != nil {
		return err
	}
	for _, b := range lengths {
		if err := q.exec(ctx, `INSERT INTO genaimeter_spend_buckets (bucket_ns) VALUES ($1)`, int64(b)); err != nil {
			return fmt.Errorf("balances: spend buckets: %w", err)
		}
	}
	return nil
}

// spendColumns is the column list of saveSpend's upsert.
const spendColumns = `tenant_id, bucket_ns, feature, bucket_start, cost_usd, first_call`

// saveSpend adds rows to the stored buckets in upserts of chunkSizes rows: the sum is done by the database, exactly (numeric
// in PostgreSQL, genaimeter_decimal_add over SQLite's decimal text), so no
// bucket is read first. With totals it returns the buckets' new values.
func saveSpend(ctx context.Context, q querier, rows map[spendKey]*spendRow, totals bool) (map[spendKey]*spendRow, error) {
	keys := make([]spendKey, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	// A fixed order: two writers of one PostgreSQL ledger lock rows alike.
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.tenant != b.tenant {
			return a.tenant < b.tenant
		}
		if a.bucket != b.bucket {
			return a.bucket < b.bucket
		}
		if a.feature != b.feature {
			return a.feature < b.feature
		}
		return a.start < b.start
	})
	set := `cost_usd = t.cost_usd + excluded.cost_usd, first_call = LEAST(t.first_call, excluded.first_call)`
	if q.sqlite() {
		set = `cost_usd = ` + sqlitestore.DecimalAdd + `(t.cost_usd, excluded.cost_usd), first_call = min(t.first_call, excluded.first_call)`
	}
	var out map[spendKey]*spendRow
	if totals {
		out = make(map[spendKey]*spendRow, len(rows))
	}
	for len(keys) > 0 {
		n := chunkSizes(len(keys), maxRows(6))[0]
		args := make([]any, 0, n*6)
		for _, k := range keys[:n] {
			r := rows[k]
			args = append(args, k.tenant, int64(k.bucket), k.feature, k.start, money.Format(&r.cost), r.first)
		}
		stmt := `INSERT INTO genaimeter_spend AS t (` + spendColumns + `) VALUES ` + placeholders(n, 6, 1) +
			` ON CONFLICT (tenant_id, bucket_ns, feature, bucket_start) DO UPDATE SET ` + set
		if !totals {
			if err := q.exec(ctx, stmt, args...); err != nil {
				return nil, fmt.Errorf("balances: save spend: %w", err)
			}
		} else if err := q.query(ctx, stmt+` RETURNING tenant_id, bucket_ns, feature, bucket_start, cost_usd::text, first_call`, args,
			func(scan func(...any) error) error {
				var k spendKey
				var ns int64
				var cost string
				r := &spendRow{}
				if err := scan(&k.tenant, &ns, &k.feature, &k.start, &cost, &r.first); err != nil {
					return err
				}
				k.bucket = time.Duration(ns)
				d, err := money.Parse(cost)
				if err != nil {
					return err
				}
				r.cost = d
				out[k] = r
				return nil
			}); err != nil {
			return nil, fmt.Errorf("balances: save spend: %w", err)
		}
		keys = keys[n:]
	}
	return out, nil
}
