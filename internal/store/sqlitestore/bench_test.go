package sqlitestore

import (
	"context"
	"fmt"
	"testing"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// BenchmarkInsert measures the exporter's hot path: one 1,000-record batch of
// new records per iteration, in one transaction on a WAL file with
// synchronous=FULL (one fsync per commit).
func BenchmarkInsert(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	const batch = 1000
	base := pricedRecord()
	batchRecs := make([]usage.Record, batch)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range batchRecs {
			r := base
			r.EventID = fmt.Sprintf("%040d", n)
			n++
			batchRecs[i] = r
		}
		ins, _, err := s.Insert(ctx, batchRecs)
		if err != nil || ins != batch {
			b.Fatalf("insert: %d new, %v", ins, err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
