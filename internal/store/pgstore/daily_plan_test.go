package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// planMigrationCalls are sqlitestore's TestMigrateFromVersion8 calls: acme's
// calls of one day under two plans (one unpriced, one on the day's last
// nanosecond), a call without a tenant, catalog model or feature, and a
// sixth call the balances have not applied.
func planMigrationCalls() []usage.Record {
	day := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	call := func(n int, tenant, plan string, at time.Duration, feature, cost, revenue string) usage.Record {
		r := usage.Record{EventID: fmt.Sprintf("%048d", n), Time: day.Add(at), TenantID: tenant, Plan: plan, Feature: feature,
			Provider: "openai", Operation: "chat", RequestModel: "gpt-4o", InputTokens: int64(10 * n), OutputTokens: int64(n),
			PricingStatus: usage.StatusUnpriced, RevenueUSD: revenue}
		if cost != "" {
			r.PricingStatus, r.CatalogProvider, r.CatalogModel, r.CostUSD = usage.StatusPriced, "openai", "gpt-4o", cost
		}
		return r
	}
	noTenant := call(4, "", "", 13*time.Hour, "", "", "")
	noTenant.ResponseModel = "gpt-4o-2026"
	return []usage.Record{
		call(1, "acme", "pro", 10*time.Hour, "chat", "0.1000000000000000001", "0.2"),
		call(2, "acme", "free", 11*time.Hour, "chat", "0.2", ""),
		call(3, "acme", "pro", 12*time.Hour, "chat", "", "0.05"),
		noTenant,
		call(5, "acme", "pro", 24*time.Hour-time.Nanosecond, "chat", "0.3", "0.0000000000000000009"),
		call(6, "acme", "pro", 14*time.Hour, "chat", "5", "5"),
	}
}

// TestMigrateFromVersion7 opens a ledger of schema version 7, whose daily
// usage rollup has no plan and counts the first five calls, and migrates
// it: the rows are split by plan, recomputed exactly (numeric) from those
// five calls and not the sixth, and summed over the plans they are the
// version-7 rows.
func TestMigrateFromVersion7(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgstoretest.NewDatabase(t))
	require.NoError(t, err)
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.Pool().Exec(ctx, `CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (7);`+
		strings.Join(migrations[:7], ";\n"))
	require.NoError(t, err)
	calls := planMigrationCalls()
	_, _, err = s.Insert(ctx, calls[:5])
	require.NoError(t, err)
	_, _, err = s.Insert(ctx, calls[5:])
	require.NoError(t, err)
	day := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC).Unix()
	_, err = s.Pool().Exec(ctx, `INSERT INTO genaimeter_daily_usage VALUES
		('acme', $1, 'chat', 'openai', 'gpt-4o', 4, 1, 110, 11, 0.6000000000000000001, 0.2500000000000000009),
		('unattributed', $1, '', 'openai', 'gpt-4o-2026', 1, 1, 40, 4, 0, 0)`, day)
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `UPDATE genaimeter_balance_state SET applied_seq = 5`)
	require.NoError(t, err)
	rows := func(q string) []string {
		var out []string
		r, err := s.Pool().Query(ctx, q)
		require.NoError(t, err)
		for r.Next() {
			var v string
			require.NoError(t, r.Scan(&v))
			out = append(out, v)
		}
		require.NoError(t, r.Err())
		return out
	}
	// Numeric text keeps its scale (0.2 + 0.3 may read 0.50): compare it
	// trimmed.
	v7 := rows(`SELECT concat_ws(' ', tenant_id, day, feature, provider, model, calls, unpriced_calls, input_tokens, output_tokens,
		trim_scale(cost_usd), trim_scale(revenue_usd)) FROM genaimeter_daily_usage ORDER BY tenant_id`)
	require.Equal(t, []string{
		fmt.Sprintf("acme %d chat openai gpt-4o 4 1 110 11 0.6000000000000000001 0.2500000000000000009", day),
		fmt.Sprintf("unattributed %d  openai gpt-4o-2026 1 1 40 4 0 0", day),
	}, v7)

	require.NoError(t, s.Migrate(ctx))
	assert.Equal(t, []string{
		fmt.Sprintf("acme %d chat openai gpt-4o free 1 0 20 2 0.2 0", day),
		fmt.Sprintf("acme %d chat openai gpt-4o pro 3 1 90 9 0.4000000000000000001 0.2500000000000000009", day),
		fmt.Sprintf("unattributed %d  openai gpt-4o-2026  1 1 40 4 0 0", day),
	}, rows(`SELECT concat_ws(' ', `+DailyUsageColumns+`) FROM (SELECT tenant_id, day, feature, provider, model, plan, calls, unpriced_calls,
		input_tokens, output_tokens, trim_scale(cost_usd) AS cost_usd, trim_scale(revenue_usd) AS revenue_usd FROM genaimeter_daily_usage) d
		ORDER BY tenant_id, day, feature, provider, model, plan`))
	// Summed over the plans (numeric sums exactly), the version-7 rows.
	assert.Equal(t, v7, rows(`SELECT concat_ws(' ', tenant_id, day, feature, provider, model, sum(calls), sum(unpriced_calls), sum(input_tokens),
		sum(output_tokens), trim_scale(sum(cost_usd)), trim_scale(sum(revenue_usd))) FROM genaimeter_daily_usage
		GROUP BY tenant_id, day, feature, provider, model ORDER BY tenant_id`))
	assert.Equal(t, []string{"5"}, rows(`SELECT applied_seq::text FROM genaimeter_balance_state`))
	_, err = s.Pool().Exec(ctx, `INSERT INTO genaimeter_daily_usage (`+DailyUsageColumns+`) VALUES ('acme', $1, 'chat', 'openai', 'gpt-4o', 'team', 1, 0, 1, 1, 1, 1)`, day)
	require.NoError(t, err)
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
}
