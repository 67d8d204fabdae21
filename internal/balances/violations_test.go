package balances

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestPlanViolationAlerts: calls to a model the plan leaves out, and calls
// after a hard limit was used up (check said no), each fire once per period
// and model or allowance, however many such calls come and however often
// they are replayed. A call that only crosses the limit is not a violation.
func TestPlanViolationAlerts(t *testing.T) {
	ps, err := entitlement.Parse([]byte(`
default_plan: basic
plans:
  basic:
    credits_per_usd: "1000"
    models: ["openai/gpt-4o-mini*"]
    alerts: {thresholds: []}
    allowances: [{name: credits, meter: credits, amount: "10", limit: hard}]
`))
	require.NoError(t, err)
	forEachStoreWith(t, entitlement.StaticSource(ps), func(t *testing.T, e env) {
		call := func(id, model, revenue string) usage.Record {
			return usage.Record{EventID: fmt.Sprintf("%048x", id), TenantID: "acme", Time: base, CatalogProvider: "openai", CatalogModel: model,
				PricingStatus: usage.StatusPriced, CostUSD: "0.001", RevenueUSD: revenue, Billable: true}
		}
		recs := []usage.Record{
			call("1", "gpt-4o-mini", "0.008"), // 8 of 10
			call("2", "gpt-4o-mini", "0.004"), // crosses the limit: allowed when checked
			call("3", "gpt-4o-mini", "0.001"), // after it: a violation
			call("4", "o3", "0.001"),          // a model outside the plan, and after the limit
			call("5", "o3", "0.001"),
			call("6", "gpt-4o-mini", "0.001"),
		}
		for _, r := range recs {
			_, err := e.insert([]usage.Record{r})
			require.NoError(t, err)
		}
		_, err := e.insert(recs)
		require.NoError(t, err)
		as, err := e.l.Alerts(context.Background(), AlertFilter{}, base)
		require.NoError(t, err)
		var got []string
		for _, a := range as {
			got = append(got, fmt.Sprintf("%s %s seq=%d reason=%q used=%s", a.ID, a.Kind, a.Seq, a.Detail.Reason, a.Detail.Used))
		}
		assert.Equal(t, []string{
			`plan_violation/acme/1793491200/limit:credits plan_violation seq=3 reason="called after the hard limit was reached (check said no)" used=13`,
			`plan_violation/acme/1793491200/model:openai/o3 plan_violation seq=4 reason="model not in the plan" used=`,
		}, got)
	})
}
