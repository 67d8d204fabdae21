package e2e

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkCollectorSQLite: end-to-end records/s into SQLite, the size of the
// database (file + WAL) per record, and the collector process's CPU time
// (user + system, from start to a graceful stop) per stored record. On the
// shared machine records/s swings with whatever else runs; CPU per record
// barely does, so it is the figure to compare two builds by. The wait reads
// max(rowid) on one open connection (waitStored), not count(*): a scan of the
// whole growing table that, at a few hundred thousand rows, takes a good part
// of a core away from the collector on a 2-core machine.
func BenchmarkCollectorSQLite(b *testing.B) {
	var db *sql.DB
	defer func() {
		if db != nil {
			_ = db.Close()
		}
	}()
	c, sent := benchmarkCollector(b, "    sqlite:\n      path: {{DB}}", func(c *collector, want int) {
		if db == nil {
			// The collector created the file on start.
			var err error
			db, err = sql.Open("sqlite", readOnlyDSN(c.dbPath))
			require.NoError(b, err)
		}
		waitStored(b, db, want)
	})
	_ = db.Close()
	db = nil
	c.stop(b)
	st := c.cmd.ProcessState
	require.NotNil(b, st, "collector did not exit")
	n := countSQLite(c.dbPath)
	require.Equal(b, sent, n, "stored records")
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(c.dbPath + suffix); err == nil {
			size += fi.Size()
		}
	}
	b.ReportMetric(float64(size)/float64(n), "disk-bytes/record")
	b.ReportMetric(float64((st.UserTime()+st.SystemTime()).Microseconds())/float64(n), "collector-cpu-µs/record")
}

// waitStored waits until the ledger holds want records: max(rowid) first (an
// index seek), then the exact count(*) once.
func waitStored(b *testing.B, db *sql.DB, want int) {
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var maxID sql.NullInt64
		_ = db.QueryRowContext(ctx, `SELECT max(rowid) FROM usage_records`).Scan(&maxID)
		if maxID.Int64 >= int64(want) {
			var n int
			require.NoError(b, db.QueryRowContext(ctx, `SELECT count(*) FROM usage_records`).Scan(&n))
			if n >= want {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("store did not reach %d records", want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
