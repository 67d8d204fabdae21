package balances

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// fullColumns are the columns Records reads: everything a report or a
// re-price needs (identity, raw usage, cost, revenue, reported cost, price).
// Money is read as text, never summed in SQL: SQLite's SUM is a float.
const fullColumns = `time, billable, event_id, tenant_id, plan, feature, service_name, environment, provider, operation,
	request_model, response_model, catalog_provider, catalog_model, input_tokens, output_tokens, cache_read_tokens,
	cache_write_tokens, reasoning_tokens, input_audio_tokens, output_audio_tokens, cache_write_1h_tokens,
	cost_usd::text, reported_cost_usd::text, revenue_usd::text, price_ref, service_tier, pricing_status,
	cost_reconciliation, cost_source, billable_reason, credits::text`

// Records calls fn with every stored record whose call time is in
// [since, until), in time order. The record passed is reused between calls.
func (l *Ledger) Records(ctx context.Context, since, until time.Time, fn func(r *usage.Record) error) error {
	return l.records(ctx, "", since, until, fn)
}

// TenantRecords is Records of one tenant's calls. The ledger has no index
// by tenant (a random-order index on the hot table cost two thirds of the
// insert rate, see sqlitestore's migration 7): this walks the (time,
// tenant_id) index over the days the daily rollup shows the tenant active
// (activeRanges) and reads only the tenant's rows from the table, so an
// active tenant's month costs a scan of the month's index entries of every
// tenant. Per-tenant totals and the finance reports come from the rollups
// instead (DailyUsage, Usage, PeriodBalances); a page of a tenant's latest
// calls is LatestRecords.
func (l *Ledger) TenantRecords(ctx context.Context, tenant string, since, until time.Time, fn func(r *usage.Record) error) error {
	return l.records(ctx, tenant, since, until, fn)
}

// timeArgs are since and until as the store's time column compares them.
func timeArgs(q querier, since, until time.Time) []any {
	if q.sqlite() {
		// The time column is fixed-width RFC 3339 text in UTC: it sorts as text.
		return []any{since.UTC().Format(usage.TimeLayout), until.UTC().Format(usage.TimeLayout)}
	}
	return []any{since.UTC(), until.UTC()}
}

func (l *Ledger) records(ctx context.Context, tenant string, since, until time.Time, fn func(r *usage.Record) error) error {
	q := l.be.read()
	if tenant == "" {
		if err := queryRecords(ctx, q, `SELECT `+fullColumns+` FROM usage_records WHERE time >= $1 AND time < $2 ORDER BY time, event_id`,
			timeArgs(q, since, until), fn); err != nil {
			return fmt.Errorf("balances: records: %w", err)
		}
		return nil
	}
	ranges, err := activeRanges(ctx, q, tenant, since, until)
	if err != nil {
		return fmt.Errorf("balances: records: %w", err)
	}
	for _, rg := range ranges {
		// The processor stores unattributed calls under the tenant
		// "unattributed"; rows without a tenant_id (written by hand) match
		// no tenant here.
		if err := queryRecords(ctx, q, `SELECT `+fullColumns+` FROM usage_records WHERE time >= $1 AND time < $2 AND tenant_id = $3 ORDER BY time, event_id`,
			append(timeArgs(q, rg[0], rg[1]), tenant), fn); err != nil {
			return fmt.Errorf("balances: records: %w", err)
		}
	}
	return nil
}

// activeRanges narrows [since, until) to the runs of days on which the daily
// rollup has calls of the tenant, in time order, so that a tenant who called
// on a few days of a month costs a scan of those days only. While the
// rollups lag the records it returns [since, until) whole.
func activeRanges(ctx context.Context, q querier, tenant string, since, until time.Time) ([][2]time.Time, error) {
	if !since.Before(until) {
		return nil, nil
	}
	current, err := rollupsCurrent(ctx, q)
	if err != nil || !current {
		return [][2]time.Time{{since, until}}, err
	}
	var out [][2]time.Time
	err = q.query(ctx, `SELECT DISTINCT day FROM genaimeter_daily_usage WHERE tenant_id = $1 AND day >= $2 AND day < $3 ORDER BY day`,
		[]any{tenant, dayOf(since), until.Unix()}, func(scan func(...any) error) error {
			var day int64
			if err := scan(&day); err != nil {
				return err
			}
			from := time.Unix(day, 0).UTC()
			to := from.AddDate(0, 0, 1)
			if n := len(out); n > 0 && !out[n-1][1].Before(from) {
				out[n-1][1] = to
				return nil
			}
			out = append(out, [2]time.Time{from, to})
			return nil
		})
	for i := range out {
		if out[i][0].Before(since) {
			out[i][0] = since
		}
		if out[i][1].After(until) {
			out[i][1] = until
		}
	}
	return out, err
}

// rollupsCurrent reports whether every stored record is applied to the
// rollups (no writer without the balances hook left records behind).
func rollupsCurrent(ctx context.Context, q querier) (bool, error) {
	var applied, last int64
	stmt := `SELECT (SELECT applied_seq FROM genaimeter_balance_state), (SELECT COALESCE(max(seq), 0) FROM usage_records)`
	if q.sqlite() {
		stmt = `SELECT (SELECT applied_seq FROM genaimeter_balance_state), (SELECT COALESCE(max(rowid), 0) FROM usage_records)`
	}
	if err := q.query(ctx, stmt, nil, func(scan func(...any) error) error { return scan(&applied, &last) }); err != nil {
		return false, err
	}
	return applied >= last, nil
}

// LatestRecords returns the tenant's n latest calls in [since, until),
// latest first (time, then event id, descending): a page's "latest calls".
// Without an index by tenant it walks the (time) index backwards from the
// tenant's last active day and stops at the n-th call: the day comes from
// the daily rollup, so a tenant with no calls in the range costs one rollup
// read, not a scan of the range. While the rollups lag the records (a
// writer without the balances hook) it walks from until instead.
func (l *Ledger) LatestRecords(ctx context.Context, tenant string, since, until time.Time, n int) ([]usage.Record, error) {
	if n <= 0 || !since.Before(until) {
		return nil, nil
	}
	q := l.be.read()
	current, lastDay, err := lastActiveDay(ctx, q, tenant, since, until)
	if err != nil {
		return nil, fmt.Errorf("balances: latest records: %w", err)
	}
	if current {
		if lastDay == nil {
			return nil, nil
		}
		if end := time.Unix(*lastDay, 0).UTC().AddDate(0, 0, 1); end.Before(until) {
			until = end
		}
	}
	args := append(timeArgs(q, since, until), tenant, n)
	var out []usage.Record
	err = queryRecords(ctx, q, `SELECT `+fullColumns+` FROM usage_records WHERE time >= $1 AND time < $2 AND tenant_id = $3
		ORDER BY time DESC, event_id DESC LIMIT $4`, args, func(r *usage.Record) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("balances: latest records: %w", err)
	}
	return out, nil
}

// lastActiveDay returns the last day (unix seconds) in [since, until) on
// which the daily rollup has calls of the tenant (nil: none), and whether
// the rollups are current (every stored record applied), without which the
// answer means nothing.
func lastActiveDay(ctx context.Context, q querier, tenant string, since, until time.Time) (bool, *int64, error) {
	current, err := rollupsCurrent(ctx, q)
	if err != nil || !current {
		return false, nil, err
	}
	var day *int64
	err = q.query(ctx, `SELECT max(day) FROM genaimeter_daily_usage WHERE tenant_id = $1 AND day >= $2 AND day < $3`,
		[]any{tenant, dayOf(since), until.Unix()}, func(scan func(...any) error) error { return scan(&day) })
	return true, day, err
}

// queryRecords runs a SELECT of fullColumns and calls fn with each record
// (one value, reused between calls).
func queryRecords(ctx context.Context, q querier, stmt string, args []any, fn func(r *usage.Record) error) error {
	r := &usage.Record{}
	return q.query(ctx, stmt, args,
		func(scan func(...any) error) error {
			var s [20]sql.NullString
			var when, billable any
			*r = usage.Record{}
			if err := scan(&when, &billable, &r.EventID, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6],
				&s[7], &s[8], &s[9], &s[10], &r.InputTokens, &r.OutputTokens, &r.CacheReadTokens,
				&r.CacheWriteTokens, &r.ReasoningTokens, &r.InputAudioTokens, &r.OutputAudioTokens, &r.CacheWrite1hTokens,
				&s[11], &s[12], &s[13], &s[14], &s[15], &r.PricingStatus, &s[16], &s[17], &s[18], &s[19]); err != nil {
				return err
			}
			if err := setTimeAndBillable(r, when, billable); err != nil {
				return err
			}
			r.TenantID, r.Plan, r.Feature, r.ServiceName, r.Environment = s[0].String, s[1].String, s[2].String, s[3].String, s[4].String
			r.Provider, r.Operation, r.RequestModel, r.ResponseModel = s[5].String, s[6].String, s[7].String, s[8].String
			r.CatalogProvider, r.CatalogModel = s[9].String, s[10].String
			r.CostUSD, r.ReportedCostUSD, r.RevenueUSD, r.PriceRef, r.ServiceTier = s[11].String, s[12].String, s[13].String, s[14].String, s[15].String
			r.CostReconciliation, r.CostSource, r.BillableReason, r.Credits = s[16].String, s[17].String, s[18].String, s[19].String
			return fn(r)
		})
}

// DailyUsage calls fn with the rows of the daily usage rollup of the days in
// [from, to) (whole UTC days: a day counts if it starts before to) of one
// tenant, or of every tenant when tenant is "", in no particular order. The
// row passed is reused between calls. It reports false, without calling fn,
// while the rollups lag the records (a writer without the balances hook left
// records they do not count yet): a caller then reads the records.
//
// This is how per-tenant reports read the ledger: a tenant's month is a few
// dozen rollup rows (its primary key starts with the tenant), where its raw
// records are a scan of the month's (time, tenant_id) index.
func (l *Ledger) DailyUsage(ctx context.Context, tenant string, from, to time.Time, fn func(d *usage.DailyUsage) error) (bool, error) {
	if !from.Before(to) {
		return true, nil
	}
	q := l.be.read()
	current, err := rollupsCurrent(ctx, q)
	if err != nil || !current {
		if err != nil {
			err = fmt.Errorf("balances: daily usage: %w", err)
		}
		return false, err
	}
	stmt := `SELECT tenant_id, day, plan, feature, provider, model, calls, unpriced_calls, input_tokens, output_tokens, cost_usd::text, revenue_usd::text
		FROM genaimeter_daily_usage WHERE day >= $1 AND day < $2`
	args := []any{dayOf(from), to.Unix()}
	if tenant != "" {
		stmt += ` AND tenant_id = $3`
		args = append(args, tenant)
	}
	d := &usage.DailyUsage{}
	err = q.query(ctx, stmt, args, func(scan func(...any) error) error {
		var day int64
		if err := scan(&d.Tenant, &day, &d.Plan, &d.Feature, &d.Provider, &d.Model, &d.Calls, &d.UnpricedCalls,
			&d.InputTokens, &d.OutputTokens, &d.CostUSD, &d.RevenueUSD); err != nil {
			return err
		}
		d.Day = time.Unix(day, 0).UTC()
		return fn(d)
	})
	if err != nil {
		return false, fmt.Errorf("balances: daily usage: %w", err)
	}
	return true, nil
}

// PeriodBalances returns the balances of the billing periods starting in
// [from, to) of one tenant, or of every tenant when tenant is "", by tenant,
// period and allowance: what an invoice bills (included use, grants, overage
// and its price), as the ledger's writers allocated it. One tenant's are a
// seek of the table's primary key.
func (l *Ledger) PeriodBalances(ctx context.Context, tenant string, from, to time.Time) ([]*entitlement.Balance, error) {
	var out []*entitlement.Balance
	stmt := `SELECT ` + balanceColumns + ` FROM genaimeter_balances WHERE period_start >= $1 AND period_start < $2`
	args := []any{from.Unix(), to.Unix()}
	if tenant != "" {
		stmt += ` AND tenant_id = $3`
		args = append(args, tenant)
	}
	err := l.be.read().query(ctx, stmt+` ORDER BY tenant_id, period_start, allowance`, args, func(scan func(...any) error) error {
		b, err := scanBalance(scan)
		if err != nil {
			return err
		}
		out = append(out, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("balances: period balances: %w", err)
	}
	return out, nil
}
