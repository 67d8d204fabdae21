package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore/sqlitestoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestInsertHookSeesNewRecordsInLedgerOrder: the hook gets exactly the
// records that were new (a replay, a repeat within the batch and one across
// statements are not), each with its rowid, ascending, and the first of
// repeated ids.
func TestInsertHookSeesNewRecordsInLedgerOrder(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	var got [][]string
	var seqs []int64
	s.SetInsertHook(func(_ context.Context, _ *sql.Tx, stored []Stored) error {
		var ids []string
		for _, st := range stored {
			name, err := hex.DecodeString(st.Record.EventID)
			require.NoError(t, err)
			ids = append(ids, fmt.Sprintf("%s/%d", strings.TrimLeft(string(name), "\x00"), st.Record.InputTokens))
			seqs = append(seqs, st.Seq)
		}
		got = append(got, ids)
		return nil
	})
	mk := func(id string, tokens int64) usage.Record {
		r := pricedRecord()
		// A span-shaped event id (48 hex digits) named after id; no cache or
		// audio tokens, so that any input count is valid.
		r.EventID, r.TraceID, r.SpanID, r.InputTokens = fmt.Sprintf("%048x", id), "", "", tokens
		r.CacheReadTokens, r.CacheWriteTokens, r.InputAudioTokens, r.CacheWrite1hTokens = 0, 0, 0, 0
		return r
	}
	ins, dup, err := s.Insert(ctx, []usage.Record{mk("a", 1), mk("b", 2), mk("a", 3)})
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 1}, [2]int{ins, dup})
	var recs []usage.Record
	for i := range RowsPerStatement + 2 {
		recs = append(recs, mk(fmt.Sprintf("n%03d", i), int64(i)))
	}
	recs = append(recs, mk("b", 9), mk("n000", 9)) // replay, and a repeat of the first statement
	ins, dup, err = s.Insert(ctx, recs)
	require.NoError(t, err)
	assert.Equal(t, [2]int{RowsPerStatement + 2, 2}, [2]int{ins, dup})
	require.Len(t, got, 2)
	assert.Equal(t, []string{"a/1", "b/2"}, got[0])
	assert.Len(t, got[1], RowsPerStatement+2)
	assert.Equal(t, "n000/0", got[1][0])
	assert.Equal(t, fmt.Sprintf("n%03d/%d", RowsPerStatement+1, RowsPerStatement+1), got[1][RowsPerStatement+1])
	for i := range seqs {
		assert.Equal(t, int64(i+1), seqs[i], "rowids are the insertion order")
	}
}

// TestInsertHookErrorRollsBack: a failing hook stores nothing of the batch.
func TestInsertHookErrorRollsBack(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	s.SetInsertHook(func(context.Context, *sql.Tx, []Stored) error { return errors.New("boom") })
	_, _, err := s.Insert(ctx, []usage.Record{pricedRecord()})
	require.EqualError(t, err, "sqlitestore: insert hook: boom")
	var n int
	require.NoError(t, s.DB().QueryRow(`SELECT count(*) FROM usage_records`).Scan(&n))
	assert.Equal(t, 0, n)
	s.SetInsertHook(nil)
	ins, _, err := s.Insert(ctx, []usage.Record{pricedRecord()})
	require.NoError(t, err)
	assert.Equal(t, 1, ins)
}

// TestMigrateFromVersion3 opens a ledger of the schema before the
// entitlement tables: its rows stay, the tables are created empty with the
// balances' state at position 0 (so the balances catch the old rows up in
// rowid order), and a hooked insert sees the next rowid.
func TestMigrateFromVersion3(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "v3.db"))
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	_, err = s.DB().ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (3);`+
		migrations[0]+migrations[1]+migrations[2])
	require.NoError(t, err)
	for _, id := range []string{"b", "a"} {
		_, err = s.DB().ExecContext(ctx, `INSERT INTO usage_records (event_id, time, input_tokens, output_tokens,
			cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable)
			VALUES (?, '2026-01-01T00:00:00.000000000Z', 1, 2, 0, 0, 0, 'priced', 1)`, id)
		require.NoError(t, err)
	}
	require.NoError(t, s.Migrate(ctx))
	assert.Equal(t, []sqlitestoretest.Row{{"applied_seq": int64(0)}}, sqlitestoretest.Query(t, s.DB(), `SELECT applied_seq FROM genaimeter_balance_state`))
	for _, table := range []string{"genaimeter_balances", "genaimeter_grants", "genaimeter_daily_usage", "genaimeter_api_keys", "genaimeter_audit"} {
		assert.Equal(t, []sqlitestoretest.Row{{"n": int64(0)}}, sqlitestoretest.Query(t, s.DB(), `SELECT count(*) AS n FROM `+table), table)
	}
	var seqs []int64
	s.SetInsertHook(func(_ context.Context, _ *sql.Tx, stored []Stored) error {
		for _, st := range stored {
			seqs = append(seqs, st.Seq)
		}
		return nil
	})
	_, _, err = s.Insert(ctx, []usage.Record{pricedRecord()})
	require.NoError(t, err)
	assert.Equal(t, []int64{3}, seqs)
	assert.Equal(t, []sqlitestoretest.Row{{"rowid": int64(1), "event_id": "b"}, {"rowid": int64(2), "event_id": "a"}},
		sqlitestoretest.Query(t, s.DB(), `SELECT rowid, event_id FROM usage_records WHERE rowid < 3 ORDER BY rowid`))
}
