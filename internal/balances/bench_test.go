package balances

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

var money1000 = money.MustParse("1000")

// benchRecord is a priced call of one of `tenants` tenants, like the
// sqlitestore benchmark's row.
func benchRecord(n, tenants int, start time.Time) usage.Record {
	return usage.Record{
		EventID: fmt.Sprintf("%032d", n) + "b7ad6b7169203331", Time: start.Add(time.Duration(n) * time.Millisecond),
		TenantID: fmt.Sprintf("tenant-%05d", n%tenants), UserID: "u-1", Feature: "summarize", ServiceName: "chat",
		Environment: "prod", Provider: "openai", Operation: "chat", RequestModel: "gpt-4o-mini",
		ResponseModel: "gpt-4o-mini-2024-07-18", CatalogProvider: "openai", CatalogModel: "gpt-4o-mini",
		InputTokens: 500, OutputTokens: 100, CacheReadTokens: 200, CostUSD: "0.000135", RevenueUSD: "0.000162",
		PricingStatus: usage.StatusPriced, Billable: true, Plan: "pro", TraceID: fmt.Sprintf("%032d", n), SpanID: "b7ad6b7169203331",
	}
}

// BenchmarkInsertBalances measures what the balances cost the ledger: the
// same 8,192-record batches (the exporter's default) into SQLite and
// PostgreSQL, without and with the balances hook, for calls spread over 100
// or 10,000 tenants.
func BenchmarkInsertBalances(b *testing.B) {
	for _, tenants := range []int{100, 10000} {
		for _, hooked := range []bool{false, true} {
			b.Run(fmt.Sprintf("sqlite/tenants=%d/balances=%v", tenants, hooked), func(b *testing.B) {
				st, err := sqlitestore.Open(filepath.Join(b.TempDir(), "usage.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				if err := st.Migrate(context.Background()); err != nil {
					b.Fatal(err)
				}
				if hooked {
					ForSQLite(st, plansSource(b), true)
				}
				benchInsert(b, tenants, 8192, func(recs []usage.Record) (int, error) {
					n, _, err := st.Insert(context.Background(), recs)
					return n, err
				})
			})
		}
	}
	for _, tenants := range []int{100, 10000} {
		for _, hooked := range []bool{false, true} {
			b.Run(fmt.Sprintf("postgres/tenants=%d/balances=%v", tenants, hooked), func(b *testing.B) {
				pgstoretest.ServerURL(b)
				cfg, err := pgxpool.ParseConfig(pgstoretest.NewDatabase(b))
				if err != nil {
					b.Fatal(err)
				}
				st, err := pgstore.Open(context.Background(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				if err := st.Migrate(context.Background()); err != nil {
					b.Fatal(err)
				}
				if hooked {
					ForPostgres(st, plansSource(b), true)
				}
				benchInsert(b, tenants, 8192, func(recs []usage.Record) (int, error) {
					n, _, err := st.Insert(context.Background(), recs)
					return n, err
				})
			})
		}
	}
}

func benchInsert(b *testing.B, tenants, batch int, insert func([]usage.Record) (int, error)) {
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]usage.Record, batch)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range recs {
			recs[i] = benchRecord(n, tenants, start)
			n++
		}
		if got, err := insert(recs); err != nil || got != batch {
			b.Fatalf("insert: %d new, %v", got, err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkCheck measures check at 10,000 tenants with a month of balances
// and a grant each: the latency an app adds before an LLM call.
func BenchmarkCheck(b *testing.B) {
	st, err := sqlitestore.Open(filepath.Join(b.TempDir(), "usage.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	l := ForSQLite(st, plansSource(b), true)
	const tenants = 10000
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	recs := make([]usage.Record, 0, 8192)
	for n := range 5 * tenants {
		recs = append(recs, benchRecord(n, tenants, start))
		if len(recs) == cap(recs) || n == 5*tenants-1 {
			if _, _, err := st.Insert(ctx, recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	for i := range tenants {
		if err := l.CreateGrant(ctx, &entitlement.Grant{Tenant: fmt.Sprintf("tenant-%05d", i), Amount: money1000}, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	at := start.Add(24 * time.Hour)
	b.ReportAllocs()
	i := 0
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		res, err := l.Check(ctx, entitlement.CheckRequest{Tenant: fmt.Sprintf("tenant-%05d", i%tenants), Model: "gpt-4o-mini", Provider: "openai", At: at})
		lat = append(lat, time.Since(t0))
		if err != nil || !res.Allowed {
			b.Fatalf("check: %+v %v", res, err)
		}
		i += 7919
	}
	reportPercentiles(b, lat)
}

// reportPercentiles reports the p50 and p99 of the measured latencies.
func reportPercentiles(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
