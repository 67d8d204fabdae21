package genaiusageconnector

import (
	"context"
	"flag"
	"path/filepath"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

var update = flag.Bool("update", false, "rewrite the golden files from the connector's output")

// TestGoldenRecords feeds the processor's golden output (spans of real clients
// with genaimeter.* decisions on them) through the connector: one record per
// metered call, none for the application's own spans.
func TestGoldenRecords(t *testing.T) {
	for _, name := range realClients {
		t.Run(name, func(t *testing.T) {
			in, err := golden.ReadTraces(filepath.Join("..", "..", "processor", "genaicostprocessor", "testdata", "golden", name+".expected.yaml"))
			require.NoError(t, err)
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			sink := new(consumertest.LogsSink)
			c, err := NewFactory().CreateTracesToLogs(context.Background(), metadatatest.NewSettings(tel), createDefaultConfig(), sink)
			require.NoError(t, err)
			require.NoError(t, c.Start(context.Background(), componenttest.NewNopHost()))
			require.NoError(t, c.ConsumeTraces(context.Background(), in))
			require.NoError(t, c.Shutdown(context.Background()))

			require.Len(t, sink.AllLogs(), 1)
			got := sink.AllLogs()[0]
			file := filepath.Join("testdata", name+".expected.yaml")
			if *update {
				require.NoError(t, golden.WriteLogs(t, file, got))
			}
			want, err := golden.ReadLogs(file)
			require.NoError(t, err)
			require.NoError(t, plogtest.CompareLogs(want, got))

			// Every record decodes into a valid usage record.
			lrs := got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
			for i := 0; i < lrs.Len(); i++ {
				r, err := usage.FromLogRecord(lrs.At(i))
				require.NoError(t, err)
				assert.Equal(t, r.TraceID+r.SpanID, r.EventID)
			}
			metadatatest.AssertEqualConnectorGenaiUsageRecords(t, tel, []metricdata.DataPoint[int64]{{Value: int64(got.LogRecordCount())}},
				metricdatatest.IgnoreTimestamp())
		})
	}
}

func TestNoRecordForUnmeteredSpans(t *testing.T) {
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateTracesToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	td := ptrace.NewTraces()
	s := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.Attributes().PutStr("gen_ai.operation.name", "chat")
	s.Attributes().PutStr("genaimeter.tenant_id", "t1") // not metered: no pricing status
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	assert.Empty(t, sink.AllLogs())
}

var realClients = []string{"otel-openai", "traceloop-openai", "traceloop-anthropic", "openinference-openai", "vercel-ai"}
