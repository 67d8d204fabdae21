package balances

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// fullColumns are the columns Records reads: everything a report or a
// re-price needs (identity, raw usage, cost, revenue, reported cost, price).
// Money is read as text, never summed in SQL: SQLite's SUM is a float.
const fullColumns = `time, billable, event_id, tenant_id, plan, feature, service_name, environment, provider, operation,
	request_model, response_model, catalog_provider, catalog_model, input_tokens, output_tokens, cache_read_tokens,
	cache_write_tokens, reasoning_tokens, input_audio_tokens, output_audio_tokens, cache_write_1h_tokens,
	cost_usd::text, reported_cost_usd::text, revenue_usd::text, price_ref, service_tier, pricing_status,
	cost_reconciliation, cost_source, billable_reason`

// Records calls fn with every stored record whose call time is in
// [since, until), in time order. The record passed is reused between calls.
func (l *Ledger) Records(ctx context.Context, since, until time.Time, fn func(r *usage.Record) error) error {
	return l.records(ctx, "", since, until, fn)
}

// TenantRecords is Records of one tenant's calls (the tenant and time index).
func (l *Ledger) TenantRecords(ctx context.Context, tenant string, since, until time.Time, fn func(r *usage.Record) error) error {
	return l.records(ctx, tenant, since, until, fn)
}

func (l *Ledger) records(ctx context.Context, tenant string, since, until time.Time, fn func(r *usage.Record) error) error {
	q := l.be.read()
	var args []any
	if q.sqlite() {
		// The time column is fixed-width RFC 3339 text in UTC: it sorts as text.
		args = []any{since.UTC().Format(sqlitestore.TimeLayout), until.UTC().Format(sqlitestore.TimeLayout)}
	} else {
		args = []any{since.UTC(), until.UTC()}
	}
	stmt := `SELECT ` + fullColumns + ` FROM usage_records WHERE time >= $1 AND time < $2 ORDER BY time, event_id`
	if tenant != "" {
		// The processor stores unattributed calls under the tenant
		// "unattributed"; rows without a tenant_id (written by hand) match
		// no tenant here.
		stmt = `SELECT ` + fullColumns + ` FROM usage_records WHERE time >= $1 AND time < $2 AND tenant_id = $3 ORDER BY time, event_id`
		args = append(args, tenant)
	}
	r := &usage.Record{}
	err := q.query(ctx, stmt, args,
		func(scan func(...any) error) error {
			var s [19]sql.NullString
			var when, billable any
			*r = usage.Record{}
			if err := scan(&when, &billable, &r.EventID, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6],
				&s[7], &s[8], &s[9], &s[10], &r.InputTokens, &r.OutputTokens, &r.CacheReadTokens,
				&r.CacheWriteTokens, &r.ReasoningTokens, &r.InputAudioTokens, &r.OutputAudioTokens, &r.CacheWrite1hTokens,
				&s[11], &s[12], &s[13], &s[14], &s[15], &r.PricingStatus, &s[16], &s[17], &s[18]); err != nil {
				return err
			}
			switch v := when.(type) {
			case time.Time:
				r.Time = v.UTC()
			case string:
				t, err := time.Parse(sqlitestore.TimeLayout, v)
				if err != nil {
					return fmt.Errorf("event %s: time %q: %w", r.EventID, v, err)
				}
				r.Time = t
			default:
				return fmt.Errorf("event %s: time of type %T", r.EventID, when)
			}
			switch v := billable.(type) {
			case bool:
				r.Billable = v
			case int64:
				r.Billable = v != 0
			}
			r.TenantID, r.Plan, r.Feature, r.ServiceName, r.Environment = s[0].String, s[1].String, s[2].String, s[3].String, s[4].String
			r.Provider, r.Operation, r.RequestModel, r.ResponseModel = s[5].String, s[6].String, s[7].String, s[8].String
			r.CatalogProvider, r.CatalogModel = s[9].String, s[10].String
			r.CostUSD, r.ReportedCostUSD, r.RevenueUSD, r.PriceRef, r.ServiceTier = s[11].String, s[12].String, s[13].String, s[14].String, s[15].String
			r.CostReconciliation, r.CostSource, r.BillableReason = s[16].String, s[17].String, s[18].String
			return fn(r)
		})
	if err != nil {
		return fmt.Errorf("balances: records: %w", err)
	}
	return nil
}

// PeriodBalances returns every tenant's balances of the billing periods
// starting in [from, to), by tenant, period and allowance: what an invoice
// bills (included use, grants, overage and its price), as the ledger's
// writers allocated it.
func (l *Ledger) PeriodBalances(ctx context.Context, from, to time.Time) ([]*entitlement.Balance, error) {
	var out []*entitlement.Balance
	err := l.be.read().query(ctx, `SELECT `+balanceColumns+` FROM genaimeter_balances WHERE period_start >= $1 AND period_start < $2
		ORDER BY tenant_id, period_start, allowance`, []any{from.Unix(), to.Unix()}, func(scan func(...any) error) error {
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
