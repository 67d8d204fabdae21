package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	usagerec "github.com/genaimeter/genaimeter/internal/usage"
)

// TestReportCommands: report margin (csv, json) and report invoice over a
// ledger whose balances balances rebuild made; usage errors exit 2.
func TestReportCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "usage.db")
	plans := filepath.Join(dir, "plans.yaml")
	require.NoError(t, os.WriteFile(plans, []byte(`plans:
  pro:
    monthly_fee: "100"
    allowances:
      - {name: calls, meter: calls, amount: "1", limit: soft, overage_price: "2.5"}
tenants:
  acme: {plan: pro}
`), 0o600))
	st, err := sqlitestore.Open(db)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	at := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	var recs []usagerec.Record
	for i, c := range []struct{ tenant, cost, rev string }{{"acme", "0.1", "0.3"}, {"acme", "0.2", "0.3"}, {"solo", "0.7", "0.5"}} {
		recs = append(recs, usagerec.Record{EventID: fmt.Sprintf("%048x", i+1), TenantID: c.tenant, Time: at.Add(time.Duration(i) * time.Hour),
			PricingStatus: usagerec.StatusPriced, CostUSD: c.cost, RevenueUSD: c.rev, CatalogModel: "gpt-4o", CatalogProvider: "openai", Billable: true})
	}
	_, _, err = st.Insert(context.Background(), recs)
	require.NoError(t, err)
	require.NoError(t, st.Close())

	var out, errb bytes.Buffer
	require.Equal(t, 0, run([]string{"balances", "rebuild", "--db", db, "--plans", plans}, nil, &out, &errb), errb.String())
	out.Reset()
	require.Equal(t, 0, run([]string{"report", "margin", "--db", db, "--plans", plans, "--period", "2026-11", "--format", "csv"}, nil, &out, &errb), errb.String())
	assert.Equal(t, `tenant,plan,plan_fee_usd,overage_usd,usage_revenue_usd,revenue_usd,cost_usd,margin_usd,margin_pct,calls,unpriced_calls,unpriced_pct,flags
acme,pro,100,2.5,0.6,102.5,0.3,102.2,99.71,2,0,0,
solo,,0,0,0.5,0.5,0.7,-0.2,-40,1,0,0,negative_margin
`, out.String())
	out.Reset()
	require.Equal(t, 0, run([]string{"report", "invoice", "--db", db, "--plans", plans, "--period", "2026-11", "--tenant", "acme", "--format", "json"}, nil, &out, &errb), errb.String())
	assert.Contains(t, out.String(), `"total_usd": "102.5"`)
	assert.NotContains(t, out.String(), "cost")
	out.Reset()
	require.Equal(t, 0, run([]string{"report", "margin", "--db", db, "--plans", plans, "--period", "2026-11"}, nil, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "TOTAL 2026-11")

	for _, args := range [][]string{
		{"report"},
		{"report", "margin", "--db", db, "--plans", plans, "--period", "2026-13"},
		{"report", "margin", "--db", db, "--plans", plans, "--period", "2026-11", "--format", "xml"},
		{"report", "invoice", "--db", db, "--plans", plans, "--period", "2026-11"},
	} {
		errb.Reset()
		assert.Equal(t, 2, run(args, nil, &out, &errb), args)
	}
	assert.Equal(t, 1, run([]string{"report", "invoice", "--db", db, "--plans", plans, "--period", "2026-11", "--tenant", "ghost"}, nil, &out, &errb))
}
