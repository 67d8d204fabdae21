package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// interleaveConfig holds calls for a minute, far longer than the test, so
// that only the arrival of their ancestors can let them go.
const interleaveConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      ancestors:
        wait: 1m
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
service:
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{METRICS}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// Two traces with the same span ids, so that an ancestor found in the wrong
// trace would show.
var (
	traceA = pcommon.TraceID{0xaa, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	traceB = pcommon.TraceID{0xbb, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	// root ← agent ← call1 in trace A; root ← call1, root ← call2 in trace B;
	// root ← call2 in trace A.
	spanRoot  = pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, 1}
	spanAgent = pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, 2}
	spanCall1 = pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, 3}
	spanCall2 = pcommon.SpanID{0, 0, 0, 0, 0, 0, 0, 4}
)

// interleaveEnd is when every span ends; the calls are priced at that time.
var interleaveEnd = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

type otlpSpan struct {
	service       string
	trace         pcommon.TraceID
	span, parent  pcommon.SpanID
	name          string
	attrs         map[string]any
	endAfterStart time.Duration
}

// otlpRequest builds one OTLP export request: a resource per service, in the
// order given.
func otlpRequest(spans ...otlpSpan) []byte {
	td := ptrace.NewTraces()
	bySvc := map[string]ptrace.SpanSlice{}
	for _, s := range spans {
		slice, ok := bySvc[s.service]
		if !ok {
			rs := td.ResourceSpans().AppendEmpty()
			rs.Resource().Attributes().PutStr("service.name", s.service)
			rs.Resource().Attributes().PutStr("deployment.environment.name", "production")
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName("e2e-interleave")
			slice = ss.Spans()
			bySvc[s.service] = slice
		}
		sp := slice.AppendEmpty()
		sp.SetTraceID(s.trace)
		sp.SetSpanID(s.span)
		sp.SetParentSpanID(s.parent)
		sp.SetName(s.name)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(interleaveEnd.Add(-s.endAfterStart)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(interleaveEnd))
		if err := sp.Attributes().FromRaw(s.attrs); err != nil {
			panic(err)
		}
	}
	var m ptrace.JSONMarshaler
	b, err := m.MarshalTraces(td)
	if err != nil {
		panic(err)
	}
	return b
}

func chatCall(service string, trace pcommon.TraceID, span, parent pcommon.SpanID, model string, in, out int) otlpSpan {
	return otlpSpan{service, trace, span, parent, "chat " + model, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
		"gen_ai.usage.input_tokens": in, "gen_ai.usage.output_tokens": out,
	}, time.Second}
}

// TestInterleavedTracesAcrossRequests sends two traces whose LLM calls and
// identity-carrying ancestors arrive in separate OTLP requests, interleaved:
// the calls of trace A come before its agent span, which comes before its root
// (which has the tenant); trace B's root comes in the same request as A's
// agent, and one of B's calls after its root. Every call must land in the
// ledger under its own trace's tenant — the guarantee that holds when one
// collector sees whole traces (see the processor's README on scaling).
func TestInterleavedTracesAcrossRequests(t *testing.T) {
	metrics := freePort(t)
	c := startCollector(t, strings.ReplaceAll(interleaveConfig, "{{METRICS}}", strconv.Itoa(metrics)))
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)
	counter := func(series string) float64 { return scrapeCounter(t, metricsURL, series) }

	// 1. Trace A's first call (its parent, the agent span, has not come yet).
	c.post(t, otlpRequest(chatCall("gateway", traceA, spanCall1, spanAgent, "gpt-4o", 4100, 730)))
	// 2. Trace B's first call, child of its root.
	c.post(t, otlpRequest(chatCall("worker", traceB, spanCall1, spanRoot, "gpt-4o-mini", 260, 45)))
	assert.Equal(t, 2.0, counter(`otelcol_processor_genai_cost_calls_held`), "both calls wait")
	// 3. Trace A's agent span (no identity, a feature) and trace B's root (its tenant), together.
	c.post(t, otlpRequest(
		otlpSpan{"gateway", traceA, spanAgent, spanRoot, "invoke_agent planner", map[string]any{
			"gen_ai.operation.name": "invoke_agent", "feature": "planner"}, 2 * time.Second},
		otlpSpan{"worker", traceB, spanRoot, pcommon.SpanID{}, "POST /jobs", map[string]any{
			"tenant.id": "globex", "enduser.id": "u-7"}, 3 * time.Second},
	))
	waitRows(t, c, 1) // B's call went on with its root; A's still misses its root.
	assert.Equal(t, 1.0, counter(`otelcol_processor_genai_cost_calls_released{release_reason="ancestors_arrived"}`))
	// 4. Trace A's second call, directly under its root, which is still missing.
	c.post(t, otlpRequest(chatCall("gateway", traceA, spanCall2, spanRoot, "gpt-4o-mini", 260, 45)))
	// 5. Trace A's root (its tenant) and B's second call, after B's root: B's
	// call is attributed at once from the remembered root.
	c.post(t, otlpRequest(
		chatCall("worker", traceB, spanCall2, spanRoot, "gpt-4o", 4100, 730),
		otlpSpan{"gateway", traceA, spanRoot, pcommon.SpanID{}, "POST /api/plan", map[string]any{
			"tenant.id": "acme", "enduser.id": "u-1"}, 3 * time.Second},
	))
	waitRows(t, c, 4)
	assert.Equal(t, 3.0, counter(`otelcol_processor_genai_cost_calls_held`))
	assert.Equal(t, 3.0, counter(`otelcol_processor_genai_cost_calls_released{release_reason="ancestors_arrived"}`))
	assert.Zero(t, counter(`otelcol_processor_genai_cost_calls_unattributed`))
	c.stop(t)

	got := readRowsByEvent(t, openDB(t, c.dbPath))
	require.Len(t, got, 4, "records: %v", got)
	// Costs as in ledger_test.go (the same models and counts): the reference
	// calculator @pydantic/genai-prices 0.1.8 gives 0.01755 for gpt-4o with
	// 4100 in / 730 out and 0.000066 for gpt-4o-mini with 260 in / 45 out.
	for _, w := range []struct {
		trace                              pcommon.TraceID
		span                               pcommon.SpanID
		service, tenant, user, feature     string
		model, catalogModel, in, out, cost string
	}{
		// The nearest ancestor's feature (the agent's), the root's tenant and user.
		{traceA, spanCall1, "gateway", "acme", "u-1", "planner", "gpt-4o", "gpt-4o", "4100", "730", "0.01755"},
		{traceA, spanCall2, "gateway", "acme", "u-1", "NULL", "gpt-4o-mini", "gpt-4o-mini", "260", "45", "0.000066"},
		{traceB, spanCall1, "worker", "globex", "u-7", "NULL", "gpt-4o-mini", "gpt-4o-mini", "260", "45", "0.000066"},
		{traceB, spanCall2, "worker", "globex", "u-7", "NULL", "gpt-4o", "gpt-4o", "4100", "730", "0.01755"},
	} {
		key := w.trace.String() + w.span.String()
		g, ok := got[key]
		if !assert.True(t, ok, "no record for %s; records: %v", key, got) {
			continue
		}
		assert.Equal(t, row{
			"event_id": key, "time": interleaveEnd.Format("2006-01-02T15:04:05.000000000Z07:00"),
			"tenant_id": w.tenant, "user_id": w.user, "feature": w.feature, "service_name": w.service,
			"environment": "production", "provider": "openai", "operation": "chat",
			"request_model": w.model, "response_model": "NULL", "catalog_model": w.catalogModel,
			"input_tokens": w.in, "output_tokens": w.out, "cache_read_tokens": "0",
			"cache_write_tokens": "0", "reasoning_tokens": "0", "cost_usd": w.cost,
			"pricing_status": "priced", "billable": "1", "trace_id": w.trace.String(), "span_id": w.span.String(),
		}, g, key)
	}
}

// readRowsByEvent is readRows keyed by event id: the two traces here share
// span ids.
func readRowsByEvent(t *testing.T, db *sql.DB) map[string]row {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT "+strings.Join(columns, ", ")+" FROM usage_records")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]row{}
	for rows.Next() {
		vals := make([]sql.NullString, len(columns))
		ptrs := make([]any, len(columns))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		r := row{}
		for i, c := range columns {
			r[c] = "NULL"
			if vals[i].Valid {
				r[c] = vals[i].String
			}
		}
		out[r["event_id"]] = r
	}
	require.NoError(t, rows.Err())
	return out
}
