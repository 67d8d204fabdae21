package balances

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestDailyUsageFromRecordsIsTheRollup: the statement with which the
// migrations rebuilt the daily usage rollup with its plan
// (sqlitestore/pgstore DailyUsageFromRecords) gives, row for row and to the
// digit, the rollup the insert hook keeps — tenant, day, plan, feature,
// provider and model derived alike (calls without a tenant, catalog model,
// response model or feature, calls on the last instant of a day), exact
// sums — over the records applied only (a writer without the hook left
// later ones).
func TestDailyUsageFromRecordsIsTheRollup(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(3, 4))
		recs := genRecords(rng, 0, 2000)
		for i := range recs {
			r := &recs[i]
			switch i % 11 {
			case 0:
				r.TenantID = ""
			case 1: // the span's models and provider only
				r.CatalogProvider, r.CatalogModel, r.Provider, r.ResponseModel, r.RequestModel = "", "", "anthropic", "claude-x-2026", "claude-x"
				r.PricingStatus, r.CostUSD = usage.StatusUnpriced, ""
			case 2:
				r.Time = time.Date(r.Time.Year(), r.Time.Month(), r.Time.Day(), 23, 59, 59, 999999999, time.UTC)
			case 3:
				r.Plan = "free"
			}
		}
		_, err := e.insert(recs)
		require.NoError(t, err)
		_, err = e.bare(genRecords(rng, 2000, 100))
		require.NoError(t, err)
		want := snapshot(t, e.l)
		require.Contains(t, want, "day unattributed ")
		require.Contains(t, want, " anthropic/claude-x-2026 plan=")
		require.Contains(t, want, " plan=free ")

		recompute := `INSERT INTO genaimeter_daily_usage (` + pgstore.DailyUsageColumns + `) ` + pgstore.DailyUsageFromRecords
		if e.name == "sqlite" {
			recompute = `INSERT INTO genaimeter_daily_usage (` + sqlitestore.DailyUsageColumns + `) ` + sqlitestore.DailyUsageFromRecords
		}
		require.NoError(t, e.l.be.write(ctx, func(q querier) error {
			if err := q.exec(ctx, `DELETE FROM genaimeter_daily_usage`); err != nil {
				return err
			}
			return q.exec(ctx, recompute)
		}))
		assert.Equal(t, want, snapshot(t, e.l))
	})
}
