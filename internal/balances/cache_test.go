package balances

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestCacheFollowsOtherWriters: the SQLite hook's cache of balances and
// grants is used between its own batches, and dropped whenever anything else
// wrote the ledger — a grant created through another Store on the same file
// (another connection: data_version), a grant voided through a second
// Ledger on the same Store (the writer connection: WriteGeneration), a
// rebuild, a batch whose hook failed — so that incremental still equals a
// rebuild to the digit.
func TestCacheFollowsOtherWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "usage.db")
	st, err := sqlitestore.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(ctx))
	l := ForSQLite(st, plansSource(t), true)
	// The hook of ForSQLite, and a failure after it applied a batch (as a
	// failed commit would leave it).
	failAfterApply := false
	st.SetInsertHook(func(ctx context.Context, tx *sql.Tx, stored []sqlitestore.Stored) error {
		items := make([]item, len(stored))
		for i, s := range stored {
			items[i] = item{seq: s.Seq, r: s.Record}
		}
		be := l.be.(sqliteBackend)
		if err := l.apply(ctx, sqlQuerier{q: tx, tx: tx, stmts: be.stmts}, items, l.cache, st.WriteGeneration()); err != nil {
			return err
		}
		if failAfterApply {
			return errors.New("injected failure")
		}
		return nil
	})
	other, err := sqlitestore.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = other.Close() })
	viaOther := ForSQLite(other, plansSource(t), false)
	sameStore := ForSQLite(st, plansSource(t), false)

	rng := rand.New(rand.NewPCG(7, 8))
	all := genRecords(rng, 0, 1200)
	insert := func(recs []usage.Record) {
		t.Helper()
		_, _, err := st.Insert(ctx, recs)
		require.NoError(t, err)
	}
	insert(all[:200])
	require.True(t, l.cache.valid, "a committed batch leaves the cache valid")
	assert.NotEmpty(t, l.cache.periods)
	seq := l.cache.seq
	insert(all[200:400])
	require.True(t, l.cache.valid)
	assert.Greater(t, l.cache.seq, seq, "the cache follows its batches")

	// Another connection: a grant the next batch must burn.
	require.NoError(t, viaOther.CreateGrant(ctx, &entitlement.Grant{Tenant: "t00", Amount: money.MustParse("500.25"), Priority: 1,
		Effective: base.AddDate(0, 0, -30)}, "test"))
	insert(all[400:600])
	// The writer connection, through a Ledger that does not keep the cache.
	g := &entitlement.Grant{Tenant: "t02", Amount: money.MustParse("250.125"), Effective: base.AddDate(0, 0, -30)}
	require.NoError(t, sameStore.CreateGrant(ctx, g, "test"))
	insert(all[600:800])
	_, err = sameStore.VoidGrant(ctx, g.ID, "test", "refund")
	require.NoError(t, err)
	insert(all[800:900])
	// A batch that fails after its hook applied it rolls back; the cache
	// must not keep what it applied, and its retry applies it once.
	failAfterApply = true
	_, _, err = st.Insert(ctx, all[900:1000])
	require.ErrorContains(t, err, "injected failure")
	failAfterApply = false
	insert(all[900:1000])
	// A rebuild in between (a WriteTx of the same Ledger).
	_, err = l.Rebuild(ctx)
	require.NoError(t, err)
	insert(all[1000:1200])

	incremental := snapshot(t, l)
	require.Regexp(t, `granted=[1-9]`, incremental, "grants were burned")
	_, err = l.Rebuild(ctx)
	require.NoError(t, err)
	assert.Equal(t, incremental, snapshot(t, l))
}
