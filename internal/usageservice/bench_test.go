package usageservice

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// BenchmarkCheckHTTP: GET /v1/tenants/{tenant}/check over loopback HTTP
// (key lookup, rate limit, three indexed reads, JSON) on a SQLite ledger of
// 10,000 tenants with five calls and a grant each, tenants asked in a
// scattered order. Reports p50 and p99 besides the mean.
func BenchmarkCheckHTTP(b *testing.B) {
	ps, err := entitlement.Parse([]byte(plansYAML))
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlitestore.Open(filepath.Join(b.TempDir(), "usage.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	l := balances.ForSQLite(st, entitlement.StaticSource(ps), true)
	const tenants = 10000
	at := time.Now().UTC()
	recs := make([]usage.Record, 0, 8192)
	for n := range 5 * tenants {
		trace := fmt.Sprintf("%032x", n)
		recs = append(recs, usage.Record{EventID: trace + "b7ad6b7169203331", TraceID: trace, SpanID: "b7ad6b7169203331",
			TenantID: fmt.Sprintf("tenant-%05d", n%tenants), Time: at, CatalogProvider: "openai", CatalogModel: "gpt-4o-mini",
			InputTokens: 500, OutputTokens: 100, PricingStatus: usage.StatusPriced, CostUSD: "0.000135", RevenueUSD: "0.000162", Billable: true})
		if len(recs) == cap(recs) || n == 5*tenants-1 {
			if _, _, err := st.Insert(ctx, recs); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	for i := range tenants {
		if err := l.CreateGrant(ctx, &entitlement.Grant{Tenant: fmt.Sprintf("tenant-%05d", i), Amount: money.MustParse("50")}, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	admin, _, err := l.CreateKey(ctx, "", "bench", "bench")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(New(l, Options{RatePerSecond: 1e9, Burst: 1 << 30}))
	defer srv.Close()
	client := srv.Client()
	var lat []time.Duration
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/tenants/tenant-%05d/check?provider=openai&model=gpt-4o-mini", srv.URL, i%tenants), nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		t0 := time.Now()
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
		lat = append(lat, time.Since(t0))
		if res.StatusCode != 200 {
			b.Fatalf("status %d", res.StatusCode)
		}
		i += 7919
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
