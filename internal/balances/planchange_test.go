package balances

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestPlanChangeWithinPeriod: t04 moves from free (100 credits, hard) to pro
// (10,000, soft), back to free and back to pro within one month, one call
// per batch. Each call is allocated against the plan in effect for it; the
// balance shows the plan of the latest call and its amount, raised to what
// was already included (included usage is never taken back), so included
// never exceeds the amount; the free call after 9,635.8357 included credits
// is all overage and the check refuses more under free. Incremental equals
// rebuild. The code before kept the first call's plan and amount in the row
// (free, 100) while 9,635.8357 were included under pro, and the check then
// answered under free for a tenant on pro.
func TestPlanChangeWithinPeriod(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		call := func(i int, plan, revenue string) usage.Record {
			return usage.Record{EventID: fmt.Sprintf("%048x", fmt.Sprintf("plan%d", i)), TenantID: "t04", Plan: plan,
				Time: base.Add(time.Duration(i) * time.Hour), CatalogProvider: "openai", CatalogModel: "o3",
				PricingStatus: usage.StatusPriced, CostUSD: "0.001", RevenueUSD: revenue, Billable: true}
		}
		balance := func() string {
			for _, line := range strings.Split(snapshot(t, e.l), "\n") {
				if strings.HasPrefix(line, "balance t04 2026-11-01 credits ") {
					return strings.TrimPrefix(line, "balance t04 2026-11-01 credits ")
				}
			}
			return ""
		}
		for i, tc := range []struct {
			plan, revenue, balance string
			allowed                bool
			remaining, amount      string
		}{
			{"", "0.05", "plan=free amount=100 used=50 included=50 granted=0 overage=0 usd=0 calls=1 unmetered=0 unpriced=0",
				true, "50", "100"},
			{"pro", "9.5858357", "plan=pro amount=10000 used=9635.8357 included=9635.8357 granted=0 overage=0 usd=0 calls=2 unmetered=0 unpriced=0",
				true, "364.1643", "10000"},
			// Back on free: nothing left of its 100, the 50 credits are overage
			// billed at their rate-card revenue.
			{"", "0.05", "plan=free amount=9635.8357 used=9685.8357 included=9635.8357 granted=0 overage=50 usd=0.05 calls=3 unmetered=0 unpriced=0",
				false, "0", "9635.8357"},
			// Back on pro: 364.1643 of the 500 included, the rest overage
			// (pro-rated revenue 0.5 * 135.8357 / 500).
			{"pro", "0.5", "plan=pro amount=10000 used=10185.8357 included=10000 granted=0 overage=185.8357 usd=0.1858357 calls=4 unmetered=0 unpriced=0",
				true, "0", "10000"},
		} {
			_, err := e.insert([]usage.Record{call(i, tc.plan, tc.revenue)})
			require.NoError(t, err)
			assert.Equal(t, tc.balance, balance(), "call %d", i)
			checkInvariants(t, e.l)
			res, err := e.l.Check(ctx, entitlement.CheckRequest{Tenant: "t04", At: base.Add(time.Duration(i)*time.Hour + time.Minute)})
			require.NoError(t, err)
			wantPlan := tc.plan
			if wantPlan == "" {
				wantPlan = "free"
			}
			assert.Equal(t, wantPlan, res.Plan, "call %d", i)
			assert.Equal(t, tc.allowed, res.Allowed, "call %d: %s", i, res.Detail)
			require.NotEmpty(t, res.Allowances)
			assert.Equal(t, tc.remaining, money.Format(&res.Allowances[0].Remaining), "call %d", i)
			assert.Equal(t, tc.amount, money.Format(&res.Allowances[0].Amount), "call %d", i)
		}
		assert.Equal(t, `allowance "credits" (hard limit 100 credits) is used up until 2026-12-01T00:00:00Z`, func() string {
			res, err := e.l.Check(ctx, entitlement.CheckRequest{Tenant: "t04", Plan: "free", At: base.Add(4 * time.Hour)})
			require.NoError(t, err)
			return res.Detail
		}())
		incremental := snapshot(t, e.l)
		_, err := e.l.Rebuild(ctx)
		require.NoError(t, err)
		assert.Equal(t, incremental, snapshot(t, e.l))
	})
}
