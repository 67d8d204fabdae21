package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// The bare insert: what SQLite itself takes to store today's usage_records
// row, with nothing of the pipeline around it. The columns are read from a
// ledger that sqlitestore.Migrate just created (so the row follows the
// schema); the table has only the primary key (no secondary index), the
// connection the settings of sqlitestore.OpenWithOptions (WAL,
// synchronous=NORMAL, in-memory temp store, the same page cache), one
// connection, 128 rows per INSERT statement, 8,192 rows per transaction.
const (
	bareRowsPerStatement = 128
	bareRowsPerTx        = 8192
)

// bareDSN is the DSN sqlitestore.OpenWithOptions builds (the driver's
// _pragma parameters), written out here because sqlitestore does not export
// it; the constants are sqlitestore's own.
func bareDSN(path string) string {
	return path + "?_txlock=immediate" +
		fmt.Sprintf("&_pragma=busy_timeout(%d)", sqlitestore.BusyTimeout.Milliseconds()) +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)" +
		"&_pragma=temp_store(MEMORY)" +
		fmt.Sprintf("&_pragma=cache_size(%d)", -sqlitestore.CacheSizeKiB)
}

type column struct {
	name, typ string
	notNull   bool
}

// usageColumns migrates a scratch ledger in dir and returns usage_records'
// columns as the schema has them today.
func usageColumns(ctx context.Context, dir string) ([]column, error) {
	path := filepath.Join(dir, "schema.db")
	st, err := sqlitestore.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = st.Close(); _ = os.Remove(path) }()
	if err := st.Migrate(ctx); err != nil {
		return nil, err
	}
	rows, err := st.DB().QueryContext(ctx, `SELECT name, type, "notnull" FROM pragma_table_info('usage_records') ORDER BY cid`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.typ, &c.notNull); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("usage_records has no columns")
	}
	return cols, rows.Err()
}

// bareTableSQL is usage_records with its columns and only its primary key.
func bareTableSQL(cols []column) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE usage_records (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name + " " + c.typ)
		if c.name == "event_id" {
			b.WriteString(" NOT NULL PRIMARY KEY")
		} else if c.notNull {
			b.WriteString(" NOT NULL")
		}
	}
	b.WriteString(")")
	return b.String()
}

// bareValue is a realistic value of column c for row n (as the pipeline's
// records of the llm shape have them); columns added to the schema later get
// NULL, or 0 if NOT NULL.
func bareValue(c column, n, tenants int, t time.Time) any {
	m := llmModels[n%len(llmModels)]
	switch c.name {
	case "event_id":
		return fmt.Sprintf("%016x%016x%016x", uint64(n)*0x9e3779b97f4a7c15, n, n+1)
	case "time":
		return t.Add(time.Duration(n) * time.Microsecond).UTC().Format(usage.TimeLayout)
	case "tenant_id":
		return fmt.Sprintf("tenant-%05d", (n*7919)%tenants)
	case "user_id":
		return fmt.Sprintf("user-%d", n%50000)
	case "service_name":
		return "support-bot"
	case "environment":
		return "production"
	case "provider", "catalog_provider":
		if m.anthropic {
			return "anthropic"
		}
		return "openai"
	case "operation":
		return "chat"
	case "request_model":
		return m.request
	case "response_model", "catalog_model":
		return m.response
	case "input_tokens":
		return m.input
	case "output_tokens":
		return m.output
	case "cache_read_tokens":
		return m.cacheRead
	case "cache_write_tokens":
		return m.cacheNew
	case "cost_usd":
		return "0.0123450000"
	case "token_convention":
		return "openai"
	case "pricing_status":
		return "priced"
	case "billable":
		return 1
	case "trace_id":
		return fmt.Sprintf("%016x%016x", n, n)
	case "span_id":
		return fmt.Sprintf("%016x", n+1)
	case "plan":
		return "pro"
	case "price_ref":
		return "genai-prices@2026-11-20"
	case "completion":
		return "complete"
	case "cost_source":
		return "calculated"
	}
	if c.notNull {
		if strings.Contains(strings.ToUpper(c.typ), "INT") {
			return 0
		}
		return ""
	}
	return nil
}

// bareInsert inserts rows rows into a fresh PK-only usage_records in dir and
// returns rows per second. The values are built before the clock starts.
func bareInsert(ctx context.Context, dir string, cols []column, rows, tenants int) (float64, error) {
	path := filepath.Join(dir, "bare.db")
	for _, s := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + s)
	}
	defer func() {
		for _, s := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(path + s)
		}
	}()
	db, err := sql.Open(sqlitestore.DriverName, bareDSN(path))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, bareTableSQL(cols)); err != nil {
		return 0, err
	}
	base := time.Now()
	rowSQL := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	stmtSQL := func(n int) string {
		names := make([]string, len(cols))
		for i, c := range cols {
			names[i] = c.name
		}
		return "INSERT INTO usage_records (" + strings.Join(names, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(rowSQL+", ", n), ", ") + " ON CONFLICT (event_id) DO NOTHING"
	}
	full := stmtSQL(bareRowsPerStatement)
	// The values of a transaction are built with the clock stopped: the
	// figure is SQLite's (and database/sql's), not fmt's.
	args := make([]any, 0, bareRowsPerTx*len(cols))
	var elapsed time.Duration
	for txStart := 0; txStart < rows; txStart += bareRowsPerTx {
		txEnd := min(txStart+bareRowsPerTx, rows)
		args = args[:0]
		for n := txStart; n < txEnd; n++ {
			for _, c := range cols {
				args = append(args, bareValue(c, n, tenants, base))
			}
		}
		start := time.Now()
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		stmt, err := tx.PrepareContext(ctx, full)
		if err != nil {
			_ = tx.Rollback()
			return 0, err
		}
		for s := txStart; s < txEnd; s += bareRowsPerStatement {
			e := min(s+bareRowsPerStatement, txEnd)
			a := args[(s-txStart)*len(cols) : (e-txStart)*len(cols)]
			if e-s == bareRowsPerStatement {
				_, err = stmt.ExecContext(ctx, a...)
			} else {
				_, err = tx.ExecContext(ctx, stmtSQL(e-s), a...)
			}
			if err != nil {
				_ = tx.Rollback()
				return 0, err
			}
		}
		_ = stmt.Close()
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		elapsed += time.Since(start)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM usage_records`).Scan(&n); err != nil {
		return 0, err
	}
	if n != rows {
		return 0, fmt.Errorf("bare insert stored %d rows, want %d", n, rows)
	}
	return float64(rows) / elapsed.Seconds(), nil
}
