package balances

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// readBenchRows and readBenchTenants size the readers' ledger: a month of
// 1M calls of 1,000 tenants (one call every 2.6 s).
const (
	readBenchRows    = 1_000_000
	readBenchTenants = 1000
)

var readBenchMonth = [2]time.Time{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}

// readBenchLedger returns a SQLite ledger of readBenchRows calls, built once
// per schema version in the temp directory (inserting 1M rows takes a
// minute or two) and reused by later runs. The rows are inserted without
// the balances hook (fast); the ledger is then marked applied and the daily
// rollup filled from the records as the hook would have left it (the
// statement of the migration that gave it the plan), and the balances get
// each tenant's two allowances of plan pro (readBenchBalances).
func readBenchLedger(b *testing.B) *Ledger {
	path := filepath.Join(os.TempDir(), fmt.Sprintf("genaimeter-readbench-v%d-%d.db", sqlitestore.SchemaVersion, readBenchRows))
	if _, err := os.Stat(path); err != nil {
		b.Logf("building %s", path)
		tmp := path + ".building"
		for _, s := range []string{"", "-wal", "-shm"} {
			_ = os.Remove(tmp + s)
		}
		st, err := sqlitestore.Open(tmp)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if err := st.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		step := readBenchMonth[1].Sub(readBenchMonth[0]) / readBenchRows
		recs := make([]usage.Record, 0, 8192)
		for n := range readBenchRows {
			r := benchRecord(n, readBenchTenants, readBenchMonth[0])
			r.Time = readBenchMonth[0].Add(time.Duration(n) * step)
			recs = append(recs, r)
			if len(recs) == cap(recs) || n == readBenchRows-1 {
				if _, _, err := st.Insert(ctx, recs); err != nil {
					b.Fatal(err)
				}
				recs = recs[:0]
			}
		}
		if _, err := st.DB().ExecContext(ctx, `UPDATE genaimeter_balance_state SET applied_seq = (SELECT max(rowid) FROM usage_records);
			INSERT INTO genaimeter_daily_usage (`+sqlitestore.DailyUsageColumns+`) `+sqlitestore.DailyUsageFromRecords+`;
			`+readBenchBalances+`;
			PRAGMA wal_checkpoint(TRUNCATE);`); err != nil {
			b.Fatal(err)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	}
	st, err := sqlitestore.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return ForSQLite(st, plansSource(b), false)
}

// readBenchBalances gives every tenant of the readers' ledger the balances
// of plan pro's two allowances for the month, as many rows as the writers
// keep (their amounts are not the allocation's: the readers only read them).
const readBenchBalances = `INSERT INTO genaimeter_balances (tenant_id, period_start, allowance, period_end, plan, meter, amount, used,
		included, granted, overage, overage_usd, calls, unmetered, overage_unpriced)
	SELECT tenant_id, unixepoch('2026-11-01'), a.name, unixepoch('2026-12-01'), 'pro', a.meter, a.amount, CAST(count(*) AS TEXT),
		CAST(count(*) AS TEXT), '0', '0', '0', count(*), 0, 0
	FROM usage_records, (SELECT 'credits' AS name, 'credits' AS meter, '10000' AS amount UNION ALL SELECT 'output', 'tokens', '5000') a
	GROUP BY tenant_id, a.name`

// BenchmarkReadsAt1M measures the readers of raw records at 1M rows: a
// tenant's month (an invoice's read, TenantRecords, period + 32 days as
// finance reads it) and every tenant's month (the margin report, reprice,
// reconcile: Records). The web page's latest calls are
// BenchmarkLatestRecordsAt1M; before LatestRecords the page read the whole
// period (Records-month) and kept the tenant's last 25 in Go.
func BenchmarkReadsAt1M(b *testing.B) {
	l := readBenchLedger(b)
	ctx := context.Background()
	tenant := fmt.Sprintf("tenant-%05d", 42)
	b.Run("TenantRecords-month", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if err := l.TenantRecords(ctx, tenant, readBenchMonth[0], readBenchMonth[1].AddDate(0, 0, 32), func(*usage.Record) error {
				n++
				return nil
			}); err != nil || n != readBenchRows/readBenchTenants {
				b.Fatalf("%d records, %v", n, err)
			}
		}
	})
	b.Run("Records-month", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			if err := l.Records(ctx, readBenchMonth[0], readBenchMonth[1], func(*usage.Record) error {
				n++
				return nil
			}); err != nil || n != readBenchRows {
				b.Fatalf("%d records, %v", n, err)
			}
		}
	})
}
