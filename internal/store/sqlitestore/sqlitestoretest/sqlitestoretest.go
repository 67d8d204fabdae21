// Package sqlitestoretest reads a ledger database back for tests, column by
// column, so that tests can assert exact stored rows (including NULLs).
package sqlitestoretest

import (
	"database/sql"
	"testing"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Row is one stored row: column name to value as the driver returns it
// (string for TEXT, int64 for INTEGER, nil for NULL).
type Row map[string]any

// Rows returns every row of usage_records in the database file at path,
// ordered by event_id. It opens its own connection so that it sees
// only what was committed.
func Rows(tb testing.TB, path string) []Row {
	tb.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	return Query(tb, db, `SELECT * FROM usage_records ORDER BY event_id`)
}

// Query runs q on db and returns the rows as Rows.
func Query(tb testing.TB, db *sql.DB, q string, args ...any) []Row {
	tb.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		tb.Fatalf("query %q: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatalf("columns: %v", err)
	}
	var out []Row
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatalf("scan: %v", err)
		}
		r := make(Row, len(cols))
		for i, c := range cols {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			r[c] = vals[i]
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("rows: %v", err)
	}
	return out
}
