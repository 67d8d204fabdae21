package genaiusageconnector

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
)

// BenchmarkLogsConsume is the logs connector's hot path: one op turns a
// batch of 100 metered spans into 100 usage log records (writeRecord), with
// the duplicate window off so that the same batches can be replayed.
func BenchmarkLogsConsume(b *testing.B) {
	batches := benchCalls()
	cfg := createDefaultConfig().(*Config)
	cfg.Dedupe.Window = 0
	c, err := newLogsConnector(connectortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop(), time.Now)
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		require.NoError(b, c.ConsumeTraces(ctx, batches[i%len(batches)]))
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*100), "ns/record")
}
