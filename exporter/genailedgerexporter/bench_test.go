package genailedgerexporter

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// BenchmarkInsert is the exporter's hot path for one 1,000-record batch of new
// records: decode every log record (usage.FromLogRecord), validate it, and
// insert the batch in one SQLite transaction (WAL, synchronous=NORMAL, 128
// rows per INSERT). Each iteration rewrites the event ids and timestamps in
// place so that every row is new and times advance; that rewrite is included
// in the figures.
func BenchmarkInsert(b *testing.B) {
	const batch = 1000
	tel := componenttest.NewTelemetry()
	defer func() { _ = tel.Shutdown(context.Background()) }()
	cfg := createDefaultConfig().(*Config)
	cfg.SQLite.Path = filepath.Join(b.TempDir(), "usage.db")
	e := newLedgerExporter(cfg, metadatatest.NewSettings(tel))
	if err := e.start(context.Background(), componenttest.NewNopHost()); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = e.shutdown(context.Background()) }()

	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for i := range batch {
		r := record(i)
		r.ToLogRecord(lrs.AppendEmpty())
	}
	n := 0
	start := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC).UnixNano()
	b.ReportAllocs()
	for b.Loop() {
		for _, lr := range lrs.All() {
			// The event id is the trace id and span id together; the
			// validator refuses a record whose parts disagree.
			id := fmt.Sprintf("%048d", n)
			lr.Attributes().PutStr(usage.AttrEventID, id)
			lr.Attributes().PutStr(usage.AttrTraceID, id[:32])
			lr.Attributes().PutStr(usage.AttrSpanID, id[32:])
			// Calls arrive roughly in time order: as in production, the time
			// indexes grow at their end.
			lr.SetTimestamp(pcommon.Timestamp(start + int64(n)*int64(time.Millisecond)))
			n++
		}
		if err := e.pushLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	// A batch the sink refused is dead-lettered, not an error: make sure the
	// figures are of rows stored.
	st, err := sqlitestore.Open(cfg.SQLite.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var stored int
	if err := st.DB().QueryRow(`SELECT count(*) FROM usage_records`).Scan(&stored); err != nil {
		b.Fatal(err)
	}
	if stored != n {
		b.Fatalf("stored %d of %d records", stored, n)
	}
}
