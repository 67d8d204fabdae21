package genailedgerexporter

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// BenchmarkInsert is the exporter's hot path for one 1,000-record batch of new
// records: decode every log record (usage.FromLogRecord), validate it, and
// insert the batch in one SQLite transaction (WAL, synchronous=FULL). Each
// iteration rewrites the event ids in place so that every row is new; that
// rewrite is included in the figures.
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
	b.ReportAllocs()
	for b.Loop() {
		for _, lr := range lrs.All() {
			lr.Attributes().PutStr(usage.AttrEventID, fmt.Sprintf("%048d", n))
			n++
		}
		if err := e.pushLogs(context.Background(), ld); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}
