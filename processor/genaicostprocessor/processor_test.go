package genaicostprocessor

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

var update = flag.Bool("update", false, "rewrite the golden files from the processor's output")

// readOTLPJSONLines reads an OTLP/JSON lines file (one export request a line,
// as the real-client capture tool writes them) into one Traces.
func readOTLPJSONLines(t *testing.T, path string) ptrace.Traces {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := ptrace.NewTraces()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	var u ptrace.JSONUnmarshaler
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		td, err := u.UnmarshalTraces(sc.Bytes())
		require.NoError(t, err)
		td.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	require.NoError(t, sc.Err())
	return out
}

func newTestProcessor(t *testing.T, cfg *Config, tel *componenttest.Telemetry) (processor.Traces, *consumertest.TracesSink) {
	t.Helper()
	sink := new(consumertest.TracesSink)
	set := processortest.NewNopSettings(metadata.Type)
	if tel != nil {
		set = metadatatest.NewSettings(tel)
	}
	p, err := NewFactory().CreateTraces(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })
	return p, sink
}

// TestGoldenRealClients runs the spans captured from real instrumentations
// through the processor and compares the result with golden files (rewrite
// them with `go test -run TestGoldenRealClients -update` and review the diff).
func TestGoldenRealClients(t *testing.T) {
	for _, name := range realClients {
		t.Run(name, func(t *testing.T) {
			in := readOTLPJSONLines(t, filepath.Join("..", "..", "testdata", "realclients", name+".otlp.jsonl"))
			p, sink := newTestProcessor(t, createDefaultConfig().(*Config), nil)
			require.NoError(t, p.ConsumeTraces(context.Background(), in))
			require.Len(t, sink.AllTraces(), 1)
			got := sink.AllTraces()[0]
			expectedFile := filepath.Join("testdata", "golden", name+".expected.yaml")
			if *update {
				require.NoError(t, golden.WriteTraces(t, expectedFile, got))
			}
			want, err := golden.ReadTraces(expectedFile)
			require.NoError(t, err)
			require.NoError(t, ptracetest.CompareTraces(want, got))
		})
	}
}

// span builds a one-span batch with the given span and resource attributes.
func spanBatch(spans ...map[string]any) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "svc")
	ss := rs.ScopeSpans().AppendEmpty()
	for i, attrs := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetName("chat")
		s.SetTraceID(pcommon.TraceID{1})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)))
		_ = s.Attributes().FromRaw(attrs)
	}
	return td
}

func spanAttrs(td ptrace.Traces, i int) map[string]any {
	return td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(i).Attributes().AsRaw()
}

// TestNeverASilentZero checks that an unknown model and a call without usage
// carry a status and no cost, and that unknown models are counted by model.
func TestNeverASilentZero(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, sink := newTestProcessor(t, createDefaultConfig().(*Config), tel)

	unknown := map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-99-ultra",
		"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
	}
	noUsage := map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
	}
	agent := map[string]any{
		"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": int64(4100), "gen_ai.usage.output_tokens": int64(730),
	}
	plain := map[string]any{"http.request.method": "GET"}
	require.NoError(t, p.ConsumeTraces(context.Background(), spanBatch(unknown, noUsage, agent, plain)))
	out := sink.AllTraces()[0]

	u := spanAttrs(out, 0)
	assert.Equal(t, "unpriced", u[usage.AttrPricingStatus])
	assert.NotContains(t, u, usage.AttrCostUSD)
	assert.NotEmpty(t, u[usage.AttrPricingDetail])
	assert.Equal(t, "unattributed", u[usage.AttrTenantID])

	n := spanAttrs(out, 1)
	assert.Equal(t, "no_usage", n[usage.AttrPricingStatus])
	assert.NotContains(t, n, usage.AttrCostUSD)

	// The agent span repeats its children's usage: it is left as it came.
	assert.Equal(t, agent, spanAttrs(out, 2))
	assert.Equal(t, plain, spanAttrs(out, 3))

	metadatatest.AssertEqualProcessorGenaiCostCallsUnpriced(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("provider", "openai"), attribute.String("model", "gpt-99-ultra")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp())
}

func TestTenantAndUserAttribution(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Tenant = []string{"tenant.id", "org"}
	p, sink := newTestProcessor(t, cfg, nil)
	call := func(extra map[string]any) map[string]any {
		m := map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 1,
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	td := spanBatch(
		call(map[string]any{"org": "from-second-key", "enduser.id": "u1"}),
		call(map[string]any{"tenant.id": "", "org": "empty-first-key-skipped"}),
		call(nil),
	)
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("tenant.id", "from-resource")
	require.NoError(t, p.ConsumeTraces(context.Background(), td))
	out := sink.AllTraces()[0]
	assert.Equal(t, "from-second-key", spanAttrs(out, 0)[usage.AttrTenantID])
	assert.Equal(t, "u1", spanAttrs(out, 0)[usage.AttrUserID])
	assert.Equal(t, "empty-first-key-skipped", spanAttrs(out, 1)[usage.AttrTenantID])
	assert.Equal(t, "from-resource", spanAttrs(out, 2)[usage.AttrTenantID])
}

func TestStartFailsOnBadPriceFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`[{"id": "openai", "models": [`), 0o600))
	for name, tc := range map[string]struct{ path, want string }{
		"missing":   {filepath.Join(dir, "nope.json"), filepath.Join(dir, "nope.json")},
		"malformed": {bad, bad},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Pricing.Sources = []SourceConfig{{Format: "genai-prices", Path: tc.path}}
			p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			require.NoError(t, err)
			err = p.Start(context.Background(), componenttest.NewNopHost())
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			require.NoError(t, p.Shutdown(context.Background()))
		})
	}
}

// realClients are the captures of real SDKs under real instrumentations in
// testdata/realclients (see that folder's README).
var realClients = []string{"otel-openai", "traceloop-openai", "traceloop-anthropic", "openinference-openai", "vercel-ai"}

// TestUnpricedSeriesAreBounded: calls_unpriced counts at most
// maxUnpricedSeries provider and model pairs by name (both come from span
// data); the calls of later pairs are counted under _overflow, and each of
// them is still recorded unpriced with its own model.
func TestUnpricedSeriesAreBounded(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, sink := newTestProcessor(t, createDefaultConfig().(*Config), tel)
	call := func(i int) map[string]any {
		return map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": fmt.Sprintf("no-such-model-%d", i),
			"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
		}
	}
	var first, later []map[string]any
	for i := range maxUnpricedSeries {
		first = append(first, call(i))
	}
	// Two new pairs past the bound, one of them twice; and a pair already
	// counted, which keeps its name.
	later = append(later, call(maxUnpricedSeries), call(maxUnpricedSeries+1), call(maxUnpricedSeries), call(7))
	require.NoError(t, p.ConsumeTraces(context.Background(), spanBatch(first...)))
	require.NoError(t, p.ConsumeTraces(context.Background(), spanBatch(later...)))

	var want []metricdata.DataPoint[int64]
	for i := range maxUnpricedSeries {
		v := int64(1)
		if i == 7 {
			v = 2
		}
		want = append(want, metricdata.DataPoint[int64]{
			Attributes: attribute.NewSet(attribute.String("provider", "openai"), attribute.String("model", fmt.Sprintf("no-such-model-%d", i))), Value: v,
		})
	}
	want = append(want, metricdata.DataPoint[int64]{
		Attributes: attribute.NewSet(attribute.String("provider", "_overflow"), attribute.String("model", "_overflow")), Value: 3,
	})
	metadatatest.AssertEqualProcessorGenaiCostCallsUnpriced(t, tel, want, metricdatatest.IgnoreTimestamp())

	out := sink.AllTraces()[1]
	u := spanAttrs(out, 1)
	assert.Equal(t, "unpriced", u[usage.AttrPricingStatus])
	assert.Equal(t, fmt.Sprintf("no-such-model-%d", maxUnpricedSeries+1), u[usage.AttrRequestModel])
}
