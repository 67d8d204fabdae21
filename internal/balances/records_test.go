package balances

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestLatestRecords: the n latest calls of a tenant in a range, latest
// first with ties broken by event id, are what reading the whole range and
// keeping the tenant's last n gave (the web page's old way), with the walk
// bounded by the daily rollup and unbounded while the rollups lag.
func TestLatestRecords(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		day := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
		call := func(id int, tenant string, at time.Time) usage.Record {
			r := benchRecord(id, 1, at)
			r.Time, r.TenantID = at, tenant
			return r
		}
		var recs []usage.Record
		for i := range 40 {
			// acme calls every hour of two days, beta on the first day only;
			// two acme calls share a time at the end (ties go by event id).
			recs = append(recs, call(i, "acme", day.Add(time.Duration(i)*time.Hour)))
			if i < 20 {
				recs = append(recs, call(100+i, "beta", day.Add(time.Duration(i)*time.Hour+time.Minute)))
			}
		}
		recs = append(recs, call(200, "acme", day.Add(39*time.Hour)))
		_, err := e.insert(recs)
		require.NoError(t, err)

		byScan := func(tenant string, since, until time.Time, n int) []string {
			var all []string
			require.NoError(t, e.l.Records(ctx, since, until, func(r *usage.Record) error {
				if r.TenantID == tenant {
					all = append(all, r.Time.Format(time.RFC3339)+" "+r.EventID)
				}
				return nil
			}))
			var out []string
			for i := len(all) - 1; i >= 0 && len(out) < n; i-- {
				out = append(out, all[i])
			}
			return out
		}
		latest := func(tenant string, since, until time.Time, n int) []string {
			rs, err := e.l.LatestRecords(ctx, tenant, since, until, n)
			require.NoError(t, err)
			var out []string
			for _, r := range rs {
				out = append(out, r.Time.Format(time.RFC3339)+" "+r.EventID)
			}
			return out
		}
		month := [2]time.Time{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		cases := []struct {
			tenant       string
			since, until time.Time
			n            int
		}{
			{"acme", month[0], month[1], 25},
			{"acme", month[0], month[1], 2}, // the tie: both calls at 15:00 on the 4th
			{"beta", month[0], month[1], 25},
			{"beta", month[0], day.Add(5 * time.Hour), 3},
			{"acme", day.Add(10 * time.Hour), day.Add(12 * time.Hour), 25},
			{"nobody", month[0], month[1], 25},
			{"acme", month[1], month[1].AddDate(0, 1, 0), 25},
		}
		check := func() {
			for _, c := range cases {
				want := byScan(c.tenant, c.since, c.until, c.n)
				assert.Equal(t, want, latest(c.tenant, c.since, c.until, c.n), "%+v", c)
			}
		}
		check()
		assert.Len(t, latest("acme", month[0], month[1], 25), 25)
		two := latest("acme", month[0], month[1], 2)
		require.Len(t, two, 2)
		assert.Equal(t, two[0][:20], two[1][:20], "a tie")
		assert.Greater(t, two[0], two[1])
		assert.Len(t, latest("beta", month[0], month[1], 25), 20)

		// A writer without the hook: the rollups lag, LatestRecords still
		// sees its calls (a later day than the rollup knows).
		_, err = e.bare([]usage.Record{call(300, "beta", day.AddDate(0, 0, 5))})
		require.NoError(t, err)
		cases = append(cases, struct {
			tenant       string
			since, until time.Time
			n            int
		}{"beta", month[0], month[1], 1})
		check()
		assert.Equal(t, []string{day.AddDate(0, 0, 5).Format(time.RFC3339) + " " + fmt.Sprintf("%032d", 300) + "b7ad6b7169203331"},
			latest("beta", month[0], month[1], 1))
	})
}

// TestTenantRecordsOverActiveDays: a tenant's records read over the days the
// daily rollup shows it active are the range's records of that tenant, in
// order, for ranges that cut days in the middle, and still all of them while
// the rollups lag (a writer without the hook).
func TestTenantRecordsOverActiveDays(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		call := func(id int, tenant string, at time.Time) usage.Record {
			r := benchRecord(id, 1, at)
			r.Time, r.TenantID = at, tenant
			return r
		}
		var recs []usage.Record
		for d := range 20 {
			for h := 0; h < 24; h += 5 {
				recs = append(recs, call(d*100+h, "dense", start.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour)))
			}
		}
		for i, d := range []int{2, 3, 4, 9, 17} { // runs of days: 2-4, 9, 17
			for h := 1; h < 24; h += 11 {
				recs = append(recs, call(5000+i*100+h, "sparse", start.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour)))
			}
		}
		_, err := e.insert(recs)
		require.NoError(t, err)
		read := func(tenant string, since, until time.Time) (byTenant, byScan []string) {
			require.NoError(t, e.l.TenantRecords(ctx, tenant, since, until, func(r *usage.Record) error {
				byTenant = append(byTenant, r.Time.Format(time.RFC3339)+" "+r.EventID)
				return nil
			}))
			require.NoError(t, e.l.Records(ctx, since, until, func(r *usage.Record) error {
				if r.TenantID == tenant {
					byScan = append(byScan, r.Time.Format(time.RFC3339)+" "+r.EventID)
				}
				return nil
			}))
			return byTenant, byScan
		}
		check := func() {
			for _, rg := range [][2]time.Time{
				{start, start.AddDate(0, 1, 0)},
				{start.AddDate(0, 0, 3).Add(6 * time.Hour), start.AddDate(0, 0, 9).Add(6 * time.Hour)}, // cuts days 3 and 9
				{start.AddDate(0, 0, 5), start.AddDate(0, 0, 9)},                                       // no sparse call
				{start.AddDate(0, 0, 17).Add(12 * time.Hour), start.AddDate(0, 0, 17).Add(13 * time.Hour)},
			} {
				for _, tenant := range []string{"dense", "sparse", "nobody"} {
					got, want := read(tenant, rg[0], rg[1])
					assert.Equal(t, want, got, "%s %v", tenant, rg)
				}
			}
		}
		check()
		got, _ := read("sparse", start, start.AddDate(0, 1, 0))
		assert.Len(t, got, 15)
		_, err = e.bare([]usage.Record{call(9999, "sparse", start.AddDate(0, 0, 12))})
		require.NoError(t, err)
		check()
		got, _ = read("sparse", start, start.AddDate(0, 1, 0))
		assert.Len(t, got, 16)
	})
}
