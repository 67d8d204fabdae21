package genaibillingexporter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// BenchmarkBackends pushes batches of 1,000 usage records (two meters: tokens
// and cost, so about 1,900 events) through the exporter to each backend's
// contract server on loopback, with and without one-minute pre-aggregation.
// It reports records/s, events/s (events sent: after aggregation, fewer) and
// the HTTP requests needed per 10,000 records.
func BenchmarkBackends(b *testing.B) {
	const perOp = 1000
	for _, backend := range []string{"stripe", "stripe_v2", backendOpenMeter, backendLago, backendOrb, backendMetronome, backendWebhook} {
		for _, window := range []time.Duration{0, time.Minute} {
			b.Run(fmt.Sprintf("%s/window=%s", backend, window), func(b *testing.B) {
				srv := newContractServer(b, backend)
				srv.sessionUses = 1 << 30
				cfg := stormConfig(b, backend, srv, window)
				cfg.ClientConfig.Timeout = 10 * time.Second
				cfg.MaxConcurrentRequests = 4
				e, err := newBillingExporter(cfg, benchSettings(), time.Now)
				require.NoError(b, err)
				require.NoError(b, e.start(context.Background(), nopHost()))
				defer func() { require.NoError(b, e.shutdown(context.Background())) }()
				base := stormRecords(perOp)
				b.ReportAllocs()
				b.ResetTimer()
				records := 0
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					recs := make([]usage.Record, 0, perOp)
					for j, r := range base {
						if r.TenantID == stormTenantUnmapped {
							continue // benchmark the send path, not the dead-letter file
						}
						r.EventID = fmt.Sprintf("%016x%016x%016x", i, j, 7)
						// Dense traffic: 1,000 calls in 100 s (two one-minute windows).
						r.Time = base[0].Time.Add(time.Duration(j) * 100 * time.Millisecond)
						recs = append(recs, r)
					}
					records += len(recs)
					ld := toLogs(recs)
					b.StartTimer()
					if err := e.pushLogs(context.Background(), ld); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				ingested, _, requests := srv.snapshot()
				sec := b.Elapsed().Seconds()
				b.ReportMetric(float64(records)/sec, "records/s")
				b.ReportMetric(float64(len(ingested))/sec, "events/s")
				b.ReportMetric(float64(requests)*10000/float64(records), "requests/10k_records")
			})
		}
	}
}

func benchSettings() exporterSettings { return exportertest.NewNopSettings(NewFactory().Type()) }

func nopHost() component.Host { return componenttest.NewNopHost() }

type exporterSettings = exporter.Settings
