package genaiusageconnector

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// benchCalls is 10k metered calls across 1k tenants and 3 models, in batches
// of 100 spans: 3000 dimension sets against a cardinality limit of 500.
func benchCalls() []ptrace.Traces {
	models := []string{"gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"}
	var batches []ptrace.Traces
	for b := range 100 {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "bench")
		spans := rs.ScopeSpans().AppendEmpty().Spans()
		for i := range 100 {
			n := b*100 + i
			s := spans.AppendEmpty()
			s.SetTraceID([16]byte{0: byte(n >> 8), 1: byte(n)})
			s.SetSpanID([8]byte{6: byte(n >> 8), 7: byte(n)})
			a := s.Attributes()
			a.PutStr("gen_ai.operation.name", "chat")
			a.PutStr(usage.AttrTenantID, fmt.Sprintf("tenant-%04d", n%1000))
			a.PutStr(usage.AttrProvider, "openai")
			a.PutStr(usage.AttrOperation, "chat")
			a.PutStr(usage.AttrRequestModel, models[n%3])
			a.PutStr(usage.AttrResponseModel, models[n%3]+"-2024-08-06")
			a.PutStr(usage.AttrCatalogModel, models[n%3])
			a.PutInt(usage.AttrInputTokens, 1200)
			a.PutInt(usage.AttrOutputTokens, 300)
			a.PutInt(usage.AttrCacheReadTokens, 200)
			a.PutInt(usage.AttrCacheWriteTokens, 0)
			a.PutInt(usage.AttrReasoningTokens, 0)
			a.PutStr(usage.AttrCostUSD, "0.0057")
			a.PutStr(usage.AttrPricingStatus, usage.StatusPriced)
			a.PutBool(usage.AttrBillable, true)
			a.PutStr(usage.AttrBillableReason, "default")
		}
		batches = append(batches, td)
	}
	return batches
}

// BenchmarkMetricsAggregate10kCalls1kTenants: one op aggregates 10k calls
// into a fresh connector and exports once. It reports calls/s and the heap
// the connector holds afterwards (series, dedupe window), measured once
// outside the timed loop.
func BenchmarkMetricsAggregate10kCalls1kTenants(b *testing.B) {
	batches := benchCalls()
	for _, window := range []time.Duration{0, defaultDedupeWindow} {
		b.Run(fmt.Sprintf("dedupe=%v", window), func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Metrics.CardinalityLimit = 500
			cfg.Dedupe.Window = window
			ctx := context.Background()
			run := func() *metricsConnector {
				c, err := newMetricsConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop(), time.Now, systemTicker)
				require.NoError(b, err)
				for _, td := range batches {
					require.NoError(b, c.ConsumeTraces(ctx, td))
				}
				require.NoError(b, c.export(ctx))
				return c
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			c := run()
			runtime.GC()
			runtime.ReadMemStats(&after)
			require.Len(b, c.series, 499) // the limit, less the global overflow series
			held := after.HeapAlloc - before.HeapAlloc
			runtime.KeepAlive(c)

			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				run()
			}
			b.ReportMetric(float64(b.N)*10_000/b.Elapsed().Seconds(), "calls/s")
			b.ReportMetric(float64(held), "held-B")
		})
	}
}

// BenchmarkMetricsConsumeWarm is the steady state: the 500 series exist, one
// op aggregates a batch of 100 calls (dedupe off, so the same batches can be
// replayed), without export.
func BenchmarkMetricsConsumeWarm(b *testing.B) {
	batches := benchCalls()
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.CardinalityLimit = 500
	cfg.Dedupe.Window = 0
	c, err := newMetricsConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop(), time.Now, systemTicker)
	require.NoError(b, err)
	ctx := context.Background()
	for _, td := range batches {
		require.NoError(b, c.ConsumeTraces(ctx, td))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		require.NoError(b, c.ConsumeTraces(ctx, batches[i%len(batches)]))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/call")
}

// BenchmarkMetricsFlushExpiry is one flush interval in the steady state of
// 500 series (499 + global overflow): 10 batches (1000 calls) then an export.
// "never" keeps the series (metrics.series_expiration: 0); "1h-busy" checks
// every series for expiry and keeps them all; "1h-churn" moves the clock an
// hour ahead each op, so every series expires at the export and the next op
// creates all 500 again: the worst case of expiry.
func BenchmarkMetricsFlushExpiry(b *testing.B) {
	batches := benchCalls()[:10]
	for _, tc := range []struct {
		name    string
		expiry  time.Duration
		advance time.Duration
	}{{"never", 0, 15 * time.Second}, {"1h-busy", time.Hour, 15 * time.Second}, {"1h-churn", time.Hour, time.Hour}} {
		b.Run(tc.name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Metrics.CardinalityLimit = 500
			cfg.Metrics.SeriesExpiration = tc.expiry
			cfg.Dedupe.Window = 0
			now := time.Now()
			c, err := newMetricsConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop(),
				func() time.Time { return now }, systemTicker)
			require.NoError(b, err)
			ctx := context.Background()
			op := func() {
				for _, td := range batches {
					require.NoError(b, c.ConsumeTraces(ctx, td))
				}
				now = now.Add(tc.advance)
				require.NoError(b, c.export(ctx))
			}
			op()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				op()
			}
			b.StopTimer()
			if tc.name == "1h-churn" {
				require.Empty(b, c.series)
			} else {
				require.Len(b, c.series, 499)
			}
		})
	}
}
