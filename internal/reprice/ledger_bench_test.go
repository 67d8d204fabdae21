package reprice

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// BenchmarkRepriceSQLiteLedger1M is genaimeter reprice end to end over a
// SQLite ledger of a million records (one op): reading every record of the
// range (balances.Ledger.Records) and re-pricing it under a changed book and
// rate cards. Building the ledger is not timed.
func BenchmarkRepriceSQLiteLedger1M(b *testing.B) {
	recs := million(b)
	st, err := sqlitestore.Open(filepath.Join(b.TempDir(), "usage.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < len(recs); i += 20000 {
		if _, _, err := st.Insert(ctx, recs[i:min(i+20000, len(recs))]); err != nil {
			b.Fatal(err)
		}
	}
	l := balances.ForSQLite(st, entitlement.StaticSource(nil), false)
	contract := "models:\n  - {provider: openai, model: gpt-4o, prices: {input_mtok: 2, output_mtok: 8}}\n"
	opts := Options{Book: book(b, contract), Cards: cards(b)}
	from, to := at.Add(-40*24*time.Hour), at.Add(24*time.Hour)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rp, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		if err := l.Records(ctx, from, to, func(r *usage.Record) error {
			_, err := rp.Add(r)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if rp.Records != int64(len(recs)) {
			b.Fatalf("read %d records, want %d", rp.Records, len(recs))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/record")
}
