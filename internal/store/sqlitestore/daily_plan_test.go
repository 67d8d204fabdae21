package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore/sqlitestoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// planMigrationCalls are the calls of TestMigrateFromVersion8: acme's calls
// of one day under two plans (one unpriced, one on the day's last
// nanosecond), a call without a tenant, catalog model or feature, and a
// last call (the sixth) the balances have not applied.
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

// TestMigrateFromVersion8 opens a ledger of schema version 8, whose daily
// usage rollup has no plan and counts the first five calls (the balances'
// applied position), and migrates it: the rollup's rows are split by plan,
// recomputed exactly from those five calls (not the sixth, which the next
// insert or CatchUp applies), and their sums over the plans are the
// version-8 rows to the last digit (19 and 19 significant digits: beyond a
// float64).
func TestMigrateFromVersion8(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "v8.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	_, err = s.DB().ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (8);`+
		strings.Join(migrations[:8], ";\n"))
	require.NoError(t, err)
	calls := planMigrationCalls()
	_, _, err = s.Insert(ctx, calls[:5])
	require.NoError(t, err)
	_, _, err = s.Insert(ctx, calls[5:])
	require.NoError(t, err)
	day := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC).Unix()
	// The version-8 rollup as the balances hook kept it.
	_, err = s.DB().ExecContext(ctx, `INSERT INTO genaimeter_daily_usage VALUES
		('acme', ?, 'chat', 'openai', 'gpt-4o', 4, 1, 110, 11, '0.6000000000000000001', '0.2500000000000000009'),
		('unattributed', ?, '', 'openai', 'gpt-4o-2026', 1, 1, 40, 4, '0', '0');
		UPDATE genaimeter_balance_state SET applied_seq = 5`, day, day)
	require.NoError(t, err)
	v8 := sqlitestoretest.Query(t, s.DB(), `SELECT * FROM genaimeter_daily_usage ORDER BY tenant_id`)

	require.NoError(t, s.Migrate(ctx))
	got := sqlitestoretest.Query(t, s.DB(), `SELECT `+DailyUsageColumns+` FROM genaimeter_daily_usage ORDER BY tenant_id, day, feature, provider, model, plan`)
	assert.Equal(t, []sqlitestoretest.Row{
		{"tenant_id": "acme", "day": day, "feature": "chat", "provider": "openai", "model": "gpt-4o", "plan": "free",
			"calls": int64(1), "unpriced_calls": int64(0), "input_tokens": int64(20), "output_tokens": int64(2), "cost_usd": "0.2", "revenue_usd": "0"},
		{"tenant_id": "acme", "day": day, "feature": "chat", "provider": "openai", "model": "gpt-4o", "plan": "pro",
			"calls": int64(3), "unpriced_calls": int64(1), "input_tokens": int64(90), "output_tokens": int64(9),
			"cost_usd": "0.4000000000000000001", "revenue_usd": "0.2500000000000000009"},
		{"tenant_id": "unattributed", "day": day, "feature": "", "provider": "openai", "model": "gpt-4o-2026", "plan": "",
			"calls": int64(1), "unpriced_calls": int64(1), "input_tokens": int64(40), "output_tokens": int64(4), "cost_usd": "0", "revenue_usd": "0"},
	}, got)

	// Summed over the plans, the rows are the version-8 rows.
	type key struct{ tenant, feature, provider, model string }
	sums := map[key]sqlitestoretest.Row{}
	for _, r := range got {
		k := key{r["tenant_id"].(string), r["feature"].(string), r["provider"].(string), r["model"].(string)}
		s := sums[k]
		if s == nil {
			s = sqlitestoretest.Row{"tenant_id": k.tenant, "day": r["day"], "feature": k.feature, "provider": k.provider, "model": k.model,
				"calls": int64(0), "unpriced_calls": int64(0), "input_tokens": int64(0), "output_tokens": int64(0), "cost_usd": "0", "revenue_usd": "0"}
			sums[k] = s
		}
		for _, c := range []string{"calls", "unpriced_calls", "input_tokens", "output_tokens"} {
			s[c] = s[c].(int64) + r[c].(int64)
		}
		for _, c := range []string{"cost_usd", "revenue_usd"} {
			a, b := money.MustParse(s[c].(string)), money.MustParse(r[c].(string))
			sum, err := money.Sum(&a, &b)
			require.NoError(t, err)
			s[c] = money.Format(&sum)
		}
	}
	var summed []sqlitestoretest.Row
	for _, r := range v8 {
		summed = append(summed, sums[key{r["tenant_id"].(string), r["feature"].(string), r["provider"].(string), r["model"].(string)}])
	}
	assert.Equal(t, v8, summed)

	// The ledger goes on: the rollup takes a plan, the sixth call is still
	// to apply.
	_, err = s.DB().ExecContext(ctx, `INSERT INTO genaimeter_daily_usage (`+DailyUsageColumns+`) VALUES ('acme', ?, 'chat', 'openai', 'gpt-4o', 'team', 1, 0, 1, 1, '1', '1')`, day)
	require.NoError(t, err)
	assert.Equal(t, []sqlitestoretest.Row{{"applied_seq": int64(5)}}, sqlitestoretest.Query(t, s.DB(), `SELECT applied_seq FROM genaimeter_balance_state`))
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
}

// TestDecimalSum: genaimeter_decimal_sum adds decimal text exactly (where
// SQLite's SUM rounds to a float), skips NULL and empty values, is "0" over
// none, and fails a statement on a value that is not a decimal.
func TestDecimalSum(t *testing.T) {
	s := openTemp(t)
	assert.Equal(t, []sqlitestoretest.Row{{"exact": "0.3000000000000000001", "float": 0.30000000000000004, "none": "0"}},
		sqlitestoretest.Query(t, s.DB(), `SELECT `+DecimalSum+`(v) AS exact, SUM(v) AS float,
			(SELECT `+DecimalSum+`(v) FROM (SELECT NULL AS v) WHERE v IS NOT NULL) AS none
			FROM (SELECT '0.1' AS v UNION ALL SELECT '0.2000000000000000001' UNION ALL SELECT NULL UNION ALL SELECT '')`))
	_, err := s.DB().Exec(`SELECT ` + DecimalSum + `(v) FROM (SELECT '1' AS v UNION ALL SELECT 'NaN')`)
	require.ErrorContains(t, err, DecimalSum+`: invalid decimal "NaN": not a finite number`)
}
