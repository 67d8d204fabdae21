package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
