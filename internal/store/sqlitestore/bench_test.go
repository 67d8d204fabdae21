package sqlitestore

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// BenchmarkInsert measures the exporter's hot path: one batch of new records
// per iteration, in one transaction on a WAL file with synchronous=NORMAL, 128
// rows per INSERT. Times advance by 1ms per record, as calls arrive in
// production. 8,192 records is the exporter's default batch (the queue's
// min_size); a transaction that large outgrew SQLite's default page cache.
func BenchmarkInsert(b *testing.B) {
	for _, batch := range []int{1000, 8192} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) { benchmarkInsert(b, batch) })
	}
}

func benchmarkInsert(b *testing.B, batch int) {
	s := openTemp(b)
	ctx := context.Background()
	base := pricedRecord()
	batchRecs := make([]usage.Record, batch)
	n := 0
	start := base.Time
	b.ReportAllocs()
	for b.Loop() {
		for i := range batchRecs {
			r := base
			r.EventID = fmt.Sprintf("%048d", n)
			r.TraceID, r.SpanID = r.EventID[:32], r.EventID[32:]
			r.Time = start.Add(time.Duration(n) * time.Millisecond)
			n++
			batchRecs[i] = r
		}
		ins, _, err := s.Insert(ctx, batchRecs)
		if err != nil || ins != batch {
			b.Fatalf("insert: %d new, %v", ins, err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	b.StopTimer()
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(s.Path() + suffix); err == nil {
			size += st.Size()
		}
	}
	b.ReportMetric(float64(size)/float64(n), "disk-bytes/record")
}
