package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore/sqlitestoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/internal/usage/usagetest"
)

// TestSchemaMatchesRecordFields: after the migrations, usage_records has one
// column per field of usage.Fields, of its type, NOT NULL exactly when the
// field is required, and no other: a field added to the record without its
// migration (or a migration without its field) fails here.
func TestSchemaMatchesRecordFields(t *testing.T) {
	s := openTemp(t)
	rows, err := s.DB().Query(`SELECT name, type, "notnull" FROM pragma_table_info('usage_records')`)
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
	want := map[string]col{}
	for _, f := range usage.Fields() {
		want[f.Name] = col{f.SQLite, f.Required}
	}
	assert.Equal(t, want, got)
}

// TestEveryFieldIsStored: the full record (every field set) reads back, column
// by column, as its fields' values.
func TestEveryFieldIsStored(t *testing.T) {
	s := openTemp(t)
	full := usagetest.Full()
	_, _, err := s.Insert(context.Background(), []usage.Record{full})
	require.NoError(t, err)
	for i := range usage.Fields() {
		f := &usage.Fields()[i]
		var v sql.NullString
		require.NoError(t, s.DB().QueryRow(`SELECT `+f.Name+` FROM usage_records`).Scan(&v), f.Name)
		var got any = v.String
		switch f.Kind {
		case usage.KindCount:
			var n int64
			require.NoError(t, s.DB().QueryRow(`SELECT `+f.Name+` FROM usage_records`).Scan(&n))
			got = n
		case usage.KindFlag:
			var b bool
			require.NoError(t, s.DB().QueryRow(`SELECT `+f.Name+` FROM usage_records`).Scan(&b))
			got = b
		case usage.KindTime:
			tm, err := time.Parse(usage.TimeLayout, v.String)
			require.NoError(t, err)
			got = tm
		}
		assert.Equal(t, usagetest.Value(f, &full), got, f.Name)
	}
}

// TestMigrateFromVersion7 opens a ledger of schema version 7 (before the
// credits column): its rows stay, without credits (NULL), and new rows keep
// their exact credits.
func TestMigrateFromVersion7(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "v7.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	ctx := context.Background()
	_, err = s.DB().ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (7);`+
		strings.Join(migrations[:7], ";\n"))
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `INSERT INTO usage_records (event_id, time, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable, revenue_usd)
		VALUES ('old', '2026-01-01T00:00:00.000000000Z', 1, 2, 0, 0, 0, 'priced', 1, '0.5')`)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	r := usagetest.Full()
	r.Credits = "12345678901234567890.000000000000000001" // more digits than a float64 holds
	_, _, err = s.Insert(ctx, []usage.Record{r})
	require.NoError(t, err)
	assert.Equal(t, []sqlitestoretest.Row{
		{"event_id": r.EventID, "credits": "12345678901234567890.000000000000000001"},
		{"event_id": "old", "credits": nil},
	}, sqlitestoretest.Query(t, s.DB(), `SELECT event_id, credits FROM usage_records ORDER BY event_id`))
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
}
