package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/internal/usage/usagetest"
)

// TestSchemaMatchesRecordFields: after the migrations, usage_records has one
// column per field of usage.Fields, of its type, NOT NULL exactly when the
// field is required; the only other column is the ledger's own sequence.
func TestSchemaMatchesRecordFields(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	rows, err := s.Pool().Query(ctx, `SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute
		WHERE attrelid = 'usage_records'::regclass AND attnum > 0 AND NOT attisdropped`)
	require.NoError(t, err)
	defer rows.Close()
	type col struct {
		typ     string
		notNull bool
	}
	got := map[string]col{}
	for rows.Next() {
		var name, typ string
		var notNull bool
		require.NoError(t, rows.Scan(&name, &typ, &notNull))
		got[name] = col{typ, notNull}
	}
	require.NoError(t, rows.Err())
	want := map[string]col{"seq": got["seq"]}
	for _, f := range usage.Fields() {
		want[f.Name] = col{f.Postgres, f.Required}
	}
	assert.Equal(t, want, got)
}

// TestEveryFieldIsStored: the full record (every field set) reads back, column
// by column, as its fields' values (decimals as their exact text).
func TestEveryFieldIsStored(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	full := usagetest.Full()
	_, _, err := s.Insert(ctx, []usage.Record{full})
	require.NoError(t, err)
	for i := range usage.Fields() {
		f := &usage.Fields()[i]
		var got any
		var err error
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			var v string
			err = s.Pool().QueryRow(ctx, `SELECT `+f.Name+`::text FROM usage_records`).Scan(&v)
			got = v
		case usage.KindCount:
			var n int64
			err = s.Pool().QueryRow(ctx, `SELECT `+f.Name+` FROM usage_records`).Scan(&n)
			got = n
		case usage.KindFlag:
			var b bool
			err = s.Pool().QueryRow(ctx, `SELECT `+f.Name+` FROM usage_records`).Scan(&b)
			got = b
		case usage.KindTime:
			var tm time.Time
			err = s.Pool().QueryRow(ctx, `SELECT `+f.Name+` FROM usage_records`).Scan(&tm)
			got = tm.UTC()
		}
		require.NoError(t, err, f.Name)
		assert.Equal(t, usagetest.Value(f, &full), got, f.Name)
	}
}

// TestMigrateFromVersion6 opens a ledger of schema version 6 (before the
// credits column): its rows stay, without credits (NULL), and new rows keep
// their exact credits as numeric.
func TestMigrateFromVersion6(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgstoretest.NewDatabase(t))
	require.NoError(t, err)
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.Pool().Exec(ctx, `CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (6);`+
		strings.Join(migrations[:6], ";\n"))
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `INSERT INTO usage_records (event_id, time, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable, revenue_usd)
		VALUES ('old', '2026-01-01T00:00:00Z', 1, 2, 0, 0, 0, 'priced', true, 0.5)`)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	r := usagetest.Full()
	r.Credits = "12345678901234567890.000000000000000001" // more digits than a float64 holds
	_, _, err = s.Insert(ctx, []usage.Record{r})
	require.NoError(t, err)
	var got []string
	rows, err := s.Pool().Query(ctx, `SELECT event_id || '=' || COALESCE(credits::text, 'NULL') FROM usage_records ORDER BY event_id`)
	require.NoError(t, err)
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		got = append(got, v)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{r.EventID + "=12345678901234567890.000000000000000001", "old=NULL"}, got)
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
}
