package balances

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

func alertCall(tenant, id, revenue string, at time.Time) usage.Record {
	return usage.Record{EventID: fmt.Sprintf("%048x", tenant+id), TenantID: tenant, Time: at, CatalogProvider: "openai", CatalogModel: "o3",
		PricingStatus: usage.StatusPriced, CostUSD: "0.0001", RevenueUSD: revenue, Billable: true}
}

// alertLine is an alert as the tests compare it.
func alertLine(a Alert) string {
	return fmt.Sprintf("%s used=%s of %s seq=%d %s", a.ID, a.Detail.Used, a.Detail.Amount, a.Seq, a.Status)
}

// TestThresholdAlertsFireOnce: 50/80/100 % of the free plan's 100 credits,
// crossed by calls through two collectors, a tenant flapping around 50 %
// with tiny calls, a call that crosses three thresholds at once, a grant's
// thresholds, and replays of everything (and a Rebuild): each alert is
// stored exactly once, by the transaction of the call that crossed it.
func TestThresholdAlertsFireOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		at := base
		var all []usage.Record
		send := func(insert func([]usage.Record) (int, error), recs ...usage.Record) {
			t.Helper()
			if insert == nil { // SQLite has no second collector
				insert = e.insert
			}
			_, err := insert(recs)
			require.NoError(t, err)
			all = append(all, recs...)
		}
		send(nil, alertCall("acme", "a", "0.049", at)) // 49 credits
		for i := range 12 {                            // 0.1 credits each: 50 is reached by the 10th
			send(nil, alertCall("acme", fmt.Sprint("flap", i), "0.0001", at))
		}
		send(e.second, alertCall("acme", "b", "0.0298", at)) // 80.0 through another collector
		send(nil, alertCall("acme", "c", "0.03", at))        // 110: over the allowance
		// beta: one call takes the whole allowance (three thresholds), then
		// 6 of its grant's 10 credits.
		g := &entitlement.Grant{Tenant: "beta", Amount: money.MustParse("10"), Effective: base.AddDate(0, 0, -1)}
		require.NoError(t, e.l.CreateGrant(ctx, g, "admin"))
		send(nil, alertCall("beta", "a", "0.1", at), alertCall("beta", "b", "0.006", at))

		want := []string{
			"threshold/acme/1793491200/allowance:credits/50 used=50 of 100 seq=11 open",
			"threshold/acme/1793491200/allowance:credits/80 used=80 of 100 seq=14 open",
			"threshold/acme/1793491200/allowance:credits/100 used=110 of 100 seq=15 open",
			"threshold/beta/1793491200/allowance:credits/100 used=100 of 100 seq=16 open",
			"threshold/beta/1793491200/allowance:credits/50 used=100 of 100 seq=16 open",
			"threshold/beta/1793491200/allowance:credits/80 used=100 of 100 seq=16 open",
			"threshold/beta/grant:" + g.ID + "/50 used=6 of 10 seq=17 open",
		}
		list := func(f AlertFilter, now time.Time) []string {
			t.Helper()
			as, err := e.l.Alerts(ctx, f, now)
			require.NoError(t, err)
			var out []string
			for _, a := range as {
				out = append(out, alertLine(a))
			}
			return out
		}
		assert.Equal(t, want, list(AlertFilter{}, at))

		// Replays through both collectors, and a rebuild, fire nothing again.
		_, err := e.insert(all)
		require.NoError(t, err)
		if e.second != nil {
			_, err = e.second(all)
			require.NoError(t, err)
		}
		_, err = e.l.Rebuild(ctx)
		require.NoError(t, err)
		assert.Equal(t, want, list(AlertFilter{}, at))

		assert.Equal(t, want[:3], list(AlertFilter{Tenant: "acme"}, at))
		// Once the period has ended the allowance alerts are resolved; the
		// grant (no expiry) stays open.
		next := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		assert.Equal(t, []string{"threshold/beta/grant:" + g.ID + "/50 used=6 of 10 seq=17 open"}, list(AlertFilter{Status: AlertOpen}, next))
		assert.Len(t, list(AlertFilter{Status: AlertResolved}, next), 6)

		as, err := e.l.Alerts(ctx, AlertFilter{Tenant: "acme", Limit: 1}, at)
		require.NoError(t, err)
		require.Len(t, as, 1)
		assert.Equal(t, AlertDetail{ThresholdPercent: "50", Plan: "free", Allowance: "credits", Meter: "credits", Amount: "100", Used: "50",
			EventID: alertCall("acme", "flap9", "", at).EventID}, as[0].Detail)
		assert.Equal(t, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), as[0].WindowStart)
		assert.Equal(t, next, as[0].WindowEnd)
	})
}

// TestAlertClaims: senders sharing a ledger claim disjoint alerts; a claim
// lapses after its lease; retry times, delivery and dead letters stick.
func TestAlertClaims(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		_, err := e.insert([]usage.Record{alertCall("acme", "a", "0.1", base)}) // 50, 80, 100 at once
		require.NoError(t, err)
		now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
		first, err := e.l.ClaimAlerts(ctx, now, time.Minute, 2)
		require.NoError(t, err)
		second, err := e.l.ClaimAlerts(ctx, now, time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, first, 2)
		require.Len(t, second, 1)
		assert.Equal(t, []string{"threshold/acme/1793491200/allowance:credits/100", "threshold/acme/1793491200/allowance:credits/50"},
			[]string{first[0].ID, first[1].ID})
		assert.Equal(t, "threshold/acme/1793491200/allowance:credits/80", second[0].ID)
		assert.Equal(t, 1, second[0].Attempts)
		none, err := e.l.ClaimAlerts(ctx, now.Add(59*time.Second), time.Minute, 10)
		require.NoError(t, err)
		assert.Empty(t, none)

		require.NoError(t, e.l.AlertDelivered(ctx, first[0].ID, now))
		require.NoError(t, e.l.AlertDead(ctx, first[1].ID, "http 410: gone"))
		require.NoError(t, e.l.AlertRetryAt(ctx, second[0].ID, now.Add(5*time.Minute)))
		none, err = e.l.ClaimAlerts(ctx, now.Add(2*time.Minute), time.Minute, 10)
		require.NoError(t, err)
		assert.Empty(t, none)
		again, err := e.l.ClaimAlerts(ctx, now.Add(5*time.Minute), time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, again, 1)
		assert.Equal(t, second[0].ID, again[0].ID)
		assert.Equal(t, 2, again[0].Attempts)

		as, err := e.l.Alerts(ctx, AlertFilter{}, now)
		require.NoError(t, err)
		require.Len(t, as, 3)
		assert.Equal(t, now, as[0].DeliveredAt)
		assert.Equal(t, "http 410: gone", as[1].DeadReason)
	})
}

// TestAlertLogOutbox: the log-record outbox is separate from the webhook's:
// an alert is claimed for logging once, until marked or its lease lapses.
func TestAlertLogOutbox(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		_, err := e.insert([]usage.Record{alertCall("acme", "a", "0.1", base)})
		require.NoError(t, err)
		now := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
		sent, err := e.l.ClaimAlerts(ctx, now, time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, sent, 3)
		logs, err := e.l.ClaimAlertLogs(ctx, now, time.Minute, 2)
		require.NoError(t, err)
		require.Len(t, logs, 2, "posting does not log")
		require.NoError(t, e.l.AlertsLogged(ctx, []string{logs[0].ID, logs[1].ID}, now))
		more, err := e.l.ClaimAlertLogs(ctx, now, time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, more, 1)
		none, err := e.l.ClaimAlertLogs(ctx, now.Add(30*time.Second), time.Minute, 10)
		require.NoError(t, err)
		assert.Empty(t, none)
		again, err := e.l.ClaimAlertLogs(ctx, now.Add(time.Minute), time.Minute, 10)
		require.NoError(t, err)
		require.Len(t, again, 1, "a lapsed claim is claimed again")
		assert.Equal(t, more[0].ID, again[0].ID)
	})
}
