package balances

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// spikePlans: the default spike rule (1h window, 24h baseline, k 3, floor
// 10 USD) and a plan with its own.
const spikePlans = `
default_plan: std
plans:
  std: {}
  touchy:
    alerts: {spike: {window: 30m, baseline: 2h, k: "2", floor: "1"}}
tenants:
  touchy: {plan: touchy}
`

func spikeCall(tenant, feature string, hour int, minute int, cost string) usage.Record {
	at := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute)
	return usage.Record{EventID: fmt.Sprintf("%048x", fmt.Sprint(tenant, feature, hour, minute, cost)), TenantID: tenant, Feature: feature, Time: at,
		CatalogProvider: "openai", CatalogModel: "o3", PricingStatus: usage.StatusPriced, CostUSD: cost, Billable: true}
}

// TestSpikeAlertsOnSyntheticHistories: hour by hour histories, sent in time
// order one batch per hour (a burst in three batches), then all replayed.
func TestSpikeAlertsOnSyntheticHistories(t *testing.T) {
	ps, err := entitlement.Parse([]byte(spikePlans))
	require.NoError(t, err)
	forEachStoreWith(t, entitlement.StaticSource(ps), func(t *testing.T, e env) {
		{
			ctx := context.Background()
			var all []usage.Record
			send := func(recs ...usage.Record) {
				_, err := e.insert(recs)
				require.NoError(t, err)
				all = append(all, recs...)
			}
			for h := range 30 {
				send(spikeCall("steady-low", "", h, 30, "5"))       // under the floor: never
				send(spikeCall("steady-high", "", h, 30, "12"))     // over the floor: only its first hour (no history)
				send(spikeCall("ramp", "", h, 30, fmt.Sprint(4+h))) // +1 USD an hour: never 3× its average
				send(spikeCall("feat", "chat", h, 30, "11"))        // one feature steady...
				if h < 10 {
					send(spikeCall("quiet", "", h, 30, "8")) // ...a tenant that goes quiet
				}
				if h < 24 {
					send(spikeCall("burst", "", h, 30, "2"), spikeCall("feat", "search", h, 30, "1"))
				}
			}
			send(spikeCall("quiet", "", 29, 40, "0.5"))
			// The burst: 30 USD in hour 24, in three batches; the alert fires with
			// the second (20 > 10, 20 × 24 > 3 × 48) and once.
			for i := range 3 {
				send(spikeCall("burst", "", 24, 10+i, "10"))
			}
			// A feature bursting while its tenant's total does not.
			send(spikeCall("feat", "search", 24, 45, "12"))
			send(spikeCall("newbie", "", 5, 0, "15"), spikeCall("newbie-small", "", 5, 0, "9"))
			// touchy's own rule: 30-minute windows, 2h baseline, k 2, floor 1.
			send(spikeCall("touchy", "", 0, 10, "1"), spikeCall("touchy", "", 0, 40, "1"), spikeCall("touchy", "", 1, 10, "1"),
				spikeCall("touchy", "", 1, 40, "2.5"))

			// Window starts: 2026-11-10 00:00 (1794268800), 05:00, 01:30 (touchy's
			// 30-minute window) and 2026-11-11 00:00 (hour 24).
			want := []string{
				"spike/burst/tenant/1794355200 spend=20 baseline=48 over 24 k=3 floor=10",
				"spike/feat/feature:chat/1794268800 spend=11 baseline=0 over 0 k=3 floor=10",
				"spike/feat/feature:search/1794355200 spend=12 baseline=24 over 24 k=3 floor=10",
				"spike/feat/tenant/1794268800 spend=11 baseline=0 over 0 k=3 floor=10",
				"spike/newbie/tenant/1794286800 spend=15 baseline=0 over 0 k=3 floor=10",
				"spike/steady-high/tenant/1794268800 spend=12 baseline=0 over 0 k=3 floor=10",
				"spike/touchy/tenant/1794274200 spend=2.5 baseline=3 over 3 k=2 floor=1",
			}
			list := func() []string {
				as, err := e.l.Alerts(ctx, AlertFilter{}, time.Date(2026, 11, 11, 0, 0, 0, 0, time.UTC))
				require.NoError(t, err)
				var out []string
				for _, a := range as {
					if a.Kind != AlertSpike {
						continue
					}
					d := a.Detail
					out = append(out, fmt.Sprintf("%s spend=%s baseline=%s over %d k=%s floor=%s", a.ID, d.SpendUSD, d.BaselineUSD, d.BaselineWindows, d.K, d.FloorUSD))
				}
				sortStrings(out)
				return out
			}
			assert.Equal(t, want, list())
			_, err := e.insert(all)
			require.NoError(t, err)
			_, err = e.l.Rebuild(ctx)
			require.NoError(t, err)
			assert.Equal(t, want, list(), "replays and a rebuild fire nothing again")
			for _, w := range want {
				assert.False(t, strings.Contains(w, "steady-low") || strings.Contains(w, "ramp") || strings.Contains(w, "quiet"))
			}
		}
	})
}

// forEachStoreWith is forEachStore under other plans.
func forEachStoreWith(t *testing.T, plans *entitlement.Source, f func(t *testing.T, e env)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteEnv(t, plans)) })
	t.Run("postgres", func(t *testing.T) {
		pgstoretest.ServerURL(t)
		f(t, pgEnv(t, plans))
	})
}

func sortStrings(s []string) { sort.Strings(s) }

// TestSpikeBaselineFilledFromTheLedger: a ledger whose spend buckets are not
// kept yet (as right after the migration that added them, with every record
// applied) fills them from its records on the first batch that needs them,
// so a steady tenant's next hour is compared with its real history, not
// alerted on the floor alone.
func TestSpikeBaselineFilledFromTheLedger(t *testing.T) {
	ps, err := entitlement.Parse([]byte(spikePlans))
	require.NoError(t, err)
	forEachStoreWith(t, entitlement.StaticSource(ps), func(t *testing.T, e env) {
		ctx := context.Background()
		for h := range 24 {
			_, err := e.insert([]usage.Record{spikeCall("steady", "chat", h, 30, "12")})
			require.NoError(t, err)
		}
		require.NoError(t, e.l.be.write(ctx, func(q querier) error {
			for _, stmt := range []string{`DELETE FROM genaimeter_spend`, `DELETE FROM genaimeter_spend_buckets`} {
				if err := q.exec(ctx, stmt); err != nil {
					return err
				}
			}
			return nil
		}))
		_, err := e.insert([]usage.Record{spikeCall("steady", "chat", 24, 30, "12"), spikeCall("steady", "chat", 25, 30, "40")})
		require.NoError(t, err)
		as, err := e.l.Alerts(ctx, AlertFilter{}, time.Date(2026, 11, 12, 0, 0, 0, 0, time.UTC))
		require.NoError(t, err)
		var got []string
		for _, a := range as {
			if a.Kind == AlertSpike {
				got = append(got, fmt.Sprintf("%s spend=%s baseline=%s over %d", a.ID, a.Detail.SpendUSD, a.Detail.BaselineUSD, a.Detail.BaselineWindows))
			}
		}
		sortStrings(got)
		// Hour 0 has no history (the floor alone); hour 24 (12 against 12 an
		// hour) is no spike; hour 25 (40 > 3 × 12) is, over a full baseline.
		assert.Equal(t, []string{
			"spike/steady/feature:chat/1794268800 spend=12 baseline=0 over 0",
			"spike/steady/feature:chat/1794358800 spend=40 baseline=288 over 24",
			"spike/steady/tenant/1794268800 spend=12 baseline=0 over 0",
			"spike/steady/tenant/1794358800 spend=40 baseline=288 over 24",
		}, got)
	})
}
