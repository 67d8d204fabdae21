package pgstore

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestMigrateFromVersion2 opens a ledger of the schema before the ledger
// sequence: its rows are numbered in time order, the sequence continues
// after them, and the entitlement tables start empty at position 0.
func TestMigrateFromVersion2(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgstoretest.NewDatabase(t))
	require.NoError(t, err)
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.Pool().Exec(ctx, `CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (2);`+migrations[0]+migrations[1])
	require.NoError(t, err)
	for _, row := range [][2]string{{"late", "2026-01-02T00:00:00Z"}, {"early", "2026-01-01T00:00:00Z"}} {
		_, err = s.Pool().Exec(ctx, `INSERT INTO usage_records (event_id, time, input_tokens, output_tokens,
			cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable)
			VALUES ($1, $2, 1, 2, 0, 0, 0, 'priced', true)`, row[0], row[1])
		require.NoError(t, err)
	}
	require.NoError(t, s.Migrate(ctx))
	var applied int64
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT applied_seq FROM genaimeter_balance_state`).Scan(&applied))
	assert.Equal(t, int64(0), applied)
	var seqs []int64
	s.SetInsertHook(func(_ context.Context, _ pgx.Tx, stored []Stored) error {
		for _, st := range stored {
			seqs = append(seqs, st.Seq)
		}
		return nil
	})
	_, _, err = s.Insert(ctx, []usage.Record{pricedRecord()})
	require.NoError(t, err)
	assert.Equal(t, []int64{3}, seqs)
	rows, err := s.Pool().Query(ctx, `SELECT event_id FROM usage_records ORDER BY seq`)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	assert.Equal(t, []string{"early", "late", pricedRecord().EventID}, ids)
}

// TestInsertHookSeesNewRecordsOnly: replays and repeats are not handed to
// the hook; the sequence has gaps for them, never repeats.
func TestInsertHookSeesNewRecordsOnly(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	var got []string
	var last int64
	s.SetInsertHook(func(_ context.Context, _ pgx.Tx, stored []Stored) error {
		for _, st := range stored {
			require.Greater(t, st.Seq, last)
			last = st.Seq
			got = append(got, st.Record.EventID[:4])
		}
		return nil
	})
	mk := func(prefix string) usage.Record {
		r := pricedRecord()
		r.EventID = prefix + r.EventID[4:]
		r.TraceID = prefix + r.TraceID[4:]
		return r
	}
	_, _, err := s.Insert(ctx, []usage.Record{mk("aaaa"), mk("bbbb"), mk("aaaa")})
	require.NoError(t, err)
	_, _, err = s.Insert(ctx, []usage.Record{mk("bbbb"), mk("cccc")})
	require.NoError(t, err)
	assert.Equal(t, []string{"aaaa", "bbbb", "cccc"}, got)
}
