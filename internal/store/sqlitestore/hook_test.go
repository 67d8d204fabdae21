package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
