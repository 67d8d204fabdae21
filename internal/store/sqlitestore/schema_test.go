package sqlitestore

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
