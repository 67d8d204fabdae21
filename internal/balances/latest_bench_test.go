package balances

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkLatestRecordsAt1M is the web page's latest calls at 1M rows:
// a tenant with calls every day, and one with none in the period (one
// rollup read, no scan).
func BenchmarkLatestRecordsAt1M(b *testing.B) {
	l := readBenchLedger(b)
	ctx := context.Background()
	for _, tenant := range []string{fmt.Sprintf("tenant-%05d", 42), "nobody"} {
		b.Run("tenant="+tenant, func(b *testing.B) {
			want := 25
			if tenant == "nobody" {
				want = 0
			}
			b.ReportAllocs()
			for b.Loop() {
				rs, err := l.LatestRecords(ctx, tenant, readBenchMonth[0], readBenchMonth[1], 25)
				if err != nil || len(rs) != want {
					b.Fatalf("%d records, %v", len(rs), err)
				}
			}
		})
	}
}
