package e2e

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector"
	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor"
)

// BenchmarkPipelineSQLite is the collector's work without the OTLP receiver
// and without another process: genai_cost → genai_usage → genai_ledger (its
// default queue and batching) into a real SQLite file, in this process, so
// that -cpuprofile and -memprofile show where the time and the allocations of
// BenchmarkCollectorSQLite go. The load is the same: requests of 100 LLM calls
// (already decoded), from 4 goroutines, 50,000 new calls per iteration, until
// the store holds every call.
func BenchmarkPipelineSQLite(b *testing.B) {
	ctx := context.Background()
	host := componenttest.NewNopHost()
	dbPath := filepath.Join(b.TempDir(), "usage.db")

	ef := genailedgerexporter.NewFactory()
	ecfg := ef.CreateDefaultConfig().(*genailedgerexporter.Config)
	ecfg.SQLite.Path = dbPath
	exp, err := ef.CreateLogs(ctx, exportertest.NewNopSettings(ef.Type()), ecfg)
	require.NoError(b, err)
	require.NoError(b, exp.Start(ctx, host))

	cf := genaiusageconnector.NewFactory()
	conn, err := cf.CreateTracesToLogs(ctx, connectortest.NewNopSettings(cf.Type()), cf.CreateDefaultConfig(), exp)
	require.NoError(b, err)
	require.NoError(b, conn.Start(ctx, host))

	pf := genaicostprocessor.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*genaicostprocessor.Config)
	pcfg.Attribution.Tenant = []string{"tenant.id"}
	pcfg.Attribution.Ancestors.Wait = 0
	proc, err := pf.CreateTraces(ctx, processortest.NewNopSettings(pf.Type()), pcfg, conn)
	require.NoError(b, err)
	require.NoError(b, proc.Start(ctx, host))
	defer func() {
		require.NoError(b, proc.Shutdown(ctx))
		require.NoError(b, conn.Shutdown(ctx))
		require.NoError(b, exp.Shutdown(ctx))
	}()

	// The exporter created the file on start.
	db, err := sql.Open("sqlite", readOnlyDSN(dbPath))
	require.NoError(b, err)
	defer db.Close()

	var sent int
	b.ReportAllocs()
	for it := 0; b.Loop(); it++ {
		b.StopTimer()
		reqs := make([]ptrace.Traces, benchRequests)
		for i := range reqs {
			body, _, _ := crashRequest(it*benchRequests + i)
			reqs[i], err = (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(body)
			require.NoError(b, err)
		}
		b.StartTimer()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 4 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= benchRequests {
						return
					}
					if err := proc.ConsumeTraces(ctx, reqs[i]); err != nil {
						b.Errorf("request %d refused: %v", i, err)
						return
					}
				}
			})
		}
		wg.Wait()
		sent += benchRequests * crashSpansPerReq
		waitStored(b, db, sent)
	}
	b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "records/s")
}
