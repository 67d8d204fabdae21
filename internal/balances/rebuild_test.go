package balances

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
)

// TestRebuildIsOneTransaction: a rebuild resets and replays in one
// transaction. Half-way through its replay (stopped after the first of six
// chunks) a reader still sees the balances as they were, not reset or
// half-replayed ones; an insert started then waits for the rebuild, which
// replays exactly the records stored before it, and applies on top of the
// rebuilt balances. A rebuild that fails on a record (here one whose revenue
// and cost were made unreadable) leaves the balances as they were. With the
// reset in a transaction of its own (the code before), the reader saw empty
// balances and the failed rebuild left them empty.
func TestRebuildIsOneTransaction(t *testing.T) {
	forEachStore(t, func(t *testing.T, e env) {
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(7, 8))
		recs := genRecords(rng, 0, 600)
		later := genRecords(rng, 600, 50)
		require.NoError(t, e.l.CreateGrant(ctx, &entitlement.Grant{Tenant: "t01", Amount: money.MustParse("12.5"), Priority: 1,
			Effective: base.AddDate(0, 0, -30)}, "test"))
		_, err := e.insert(recs)
		require.NoError(t, err)
		before := snapshot(t, e.l)
		require.Contains(t, before, "balance t0")

		e.l.chunk = 100
		chunks := 0
		var midway string
		inserted := make(chan error, 1)
		e.l.rebuiltChunk = func() {
			chunks++
			if chunks == 1 {
				midway = snapshot(t, e.l)
				go func() {
					_, err := e.insert(later)
					inserted <- err
				}()
			}
		}
		n, err := e.l.Rebuild(ctx)
		require.NoError(t, err)
		assert.Equal(t, len(recs), n, "the rebuild replays the records stored before it, the insert waits")
		assert.Equal(t, 7, chunks, "six full chunks and an empty one")
		assert.Equal(t, before, midway, "a reader sees the old balances until the rebuild commits")
		require.NoError(t, <-inserted)
		e.l.rebuiltChunk = nil

		withLater := snapshot(t, e.l)
		assert.NotEqual(t, before, withLater)
		n, err = e.l.Rebuild(ctx)
		require.NoError(t, err)
		assert.Equal(t, len(recs)+len(later), n)
		require.Equal(t, withLater, snapshot(t, e.l), "the insert applied on top of the rebuilt balances")

		// A record that fails to apply, after the first chunks: the rebuild
		// fails and nothing of it is kept.
		corrupt := `UPDATE usage_records SET revenue_usd = 'NaN', cost_usd = 'NaN' WHERE seq = (SELECT max(seq) FROM usage_records WHERE billable AND revenue_usd IS NOT NULL)`
		if e.name == "sqlite" {
			corrupt = `UPDATE usage_records SET revenue_usd = 'NaN', cost_usd = 'NaN' WHERE rowid = (SELECT max(rowid) FROM usage_records WHERE billable AND revenue_usd IS NOT NULL)`
		}
		require.NoError(t, e.l.be.write(ctx, func(q querier) error { return q.exec(ctx, corrupt) }))
		_, err = e.l.Rebuild(ctx)
		require.ErrorContains(t, err, `invalid decimal "NaN": not a finite number`)
		assert.Equal(t, withLater, snapshot(t, e.l), "a failed rebuild leaves the balances as they were")
	})
}
