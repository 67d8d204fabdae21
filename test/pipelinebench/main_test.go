package main

import (
	"context"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
)

var testEnd = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func unmarshal(t *testing.T, body []byte) ptrace.Traces {
	req := ptraceotlp.NewExportRequest()
	require.NoError(t, req.UnmarshalProto(body))
	return req.Traces()
}

type traceSummary struct {
	spans, chats int
	server       ptrace.Span
	chatParents  []pcommon.SpanID
}

func summarize(td ptrace.Traces) map[pcommon.TraceID]*traceSummary {
	out := map[pcommon.TraceID]*traceSummary{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				sp := spans.At(k)
				s := out[sp.TraceID()]
				if s == nil {
					s = &traceSummary{}
					out[sp.TraceID()] = s
				}
				s.spans++
				if sp.Kind() == ptrace.SpanKindServer {
					s.server = sp
				}
				if v, ok := sp.Attributes().Get("gen_ai.operation.name"); ok && v.Str() == "chat" {
					s.chats++
					s.chatParents = append(s.chatParents, sp.ParentSpanID())
				}
			}
		}
	}
	return out
}

// Every trace is whole, has one chat span under a server span that carries
// tenant.id, and the chat span is what genaiconv reads as an LLM call with
// its model and usage.
func TestTemplateShape(t *testing.T) {
	for _, tc := range []struct {
		s      shape
		traces int
	}{{shapeLLM, 250}, {shapeMixed, 50}} {
		t.Run(tc.s.name, func(t *testing.T) {
			tmpl, err := buildTemplate(tc.s, 3, 500, 1000, testEnd)
			require.NoError(t, err)
			assert.Equal(t, 500, tmpl.spans)
			assert.Equal(t, tc.traces, tmpl.calls)
			assert.Len(t, tmpl.idOffsets, 500, "one trace_id per span")
			td := unmarshal(t, tmpl.body)
			assert.Equal(t, 500, td.SpanCount())
			sum := summarize(td)
			require.Len(t, sum, tc.traces)
			for id, s := range sum {
				assert.Equal(t, tc.s.spansPerTrace, s.spans, "trace %s", id)
				assert.Equal(t, 1, s.chats, "trace %s", id)
				require.Equal(t, ptrace.SpanKindServer, s.server.Kind(), "trace %s has a server span", id)
				tenant, ok := s.server.Attributes().Get("tenant.id")
				require.True(t, ok)
				assert.True(t, strings.HasPrefix(tenant.Str(), "tenant-"), tenant.Str())
				assert.Equal(t, []pcommon.SpanID{s.server.SpanID()}, s.chatParents)
			}

			// genaiconv reads every chat span as a call with a model and tokens.
			calls := 0
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				sss := rss.At(i).ScopeSpans()
				for j := 0; j < sss.Len(); j++ {
					scope := genaiconv.ScopeOf(sss.At(j).Scope())
					spans := sss.At(j).Spans()
					for k := 0; k < spans.Len(); k++ {
						c, kind, err := genaiconv.Extract(spans.At(k), scope, nil)
						require.NoError(t, err)
						if kind != genaiconv.Inference {
							assert.Equal(t, genaiconv.NotGenAI, kind, spans.At(k).Name())
							continue
						}
						calls++
						assert.NotEmpty(t, c.ResponseModel)
						assert.NotEmpty(t, c.Provider)
						assert.True(t, c.Usage.Reported)
						assert.Positive(t, c.Usage.Input)
						assert.Positive(t, c.Usage.Output)
					}
				}
			}
			assert.Equal(t, tc.traces, calls)
		})
	}
}

// patch gives every request new trace IDs and keeps every trace whole.
func TestPatchMakesNewCalls(t *testing.T) {
	tmpl, err := buildTemplate(shapeLLM, 0, 500, 1000, testEnd)
	require.NoError(t, err)
	seen := map[pcommon.TraceID]bool{}
	for seq := uint64(1); seq <= 3; seq++ {
		body := append([]byte(nil), tmpl.body...)
		tmpl.patch(body, seq)
		sum := summarize(unmarshal(t, body))
		require.Len(t, sum, 250)
		for id, s := range sum {
			assert.False(t, seen[id], "trace ID %s repeated", id)
			seen[id] = true
			assert.Equal(t, 2, s.spans)
			assert.Equal(t, seq, uint64(id[0])<<56|uint64(id[1])<<48|uint64(id[2])<<40|uint64(id[3])<<32|
				uint64(id[4])<<24|uint64(id[5])<<16|uint64(id[6])<<8|uint64(id[7]))
		}
	}
	assert.Len(t, seen, 750)
}

// buildTemplates covers every tenant.
func TestTemplatesCoverTenants(t *testing.T) {
	ts, err := buildTemplates(shapeLLM, 500, 1000, testEnd)
	require.NoError(t, err)
	require.Len(t, ts, 4)
	tenants := map[string]bool{}
	for _, tmpl := range ts {
		for _, s := range summarize(unmarshal(t, tmpl.body)) {
			v, _ := s.server.Attributes().Get("tenant.id")
			tenants[v.Str()] = true
		}
	}
	assert.Len(t, tenants, 1000)

	_, err = buildTemplate(shapeMixed, 0, 495, 10, testEnd)
	assert.EqualError(t, err, "495 spans per request is not a whole number of 10-span traces")
}

// traceSink is an OTLP/gRPC trace server that keeps what it receives.
type traceSink struct {
	ptraceotlp.UnimplementedGRPCServer
	mu       sync.Mutex
	traceIDs map[pcommon.TraceID]int
	spans    int
	refuse   int // refuse this many requests first
}

func (s *traceSink) Export(_ context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := ptraceotlp.NewExportResponse()
	if s.refuse > 0 {
		s.refuse--
		resp.PartialSuccess().SetRejectedSpans(int64(req.Traces().SpanCount()))
		resp.PartialSuccess().SetErrorMessage("queue is full")
		return resp, nil
	}
	for id, ts := range summarize(req.Traces()) {
		s.traceIDs[id] += ts.spans
	}
	s.spans += req.Traces().SpanCount()
	return resp, nil
}

// The load generator's pre-marshalled requests arrive as valid OTLP, each
// with new trace IDs; a partial success counts as a refusal and is resent.
func TestLoadgenOverGRPC(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	sink := &traceSink{traceIDs: map[pcommon.TraceID]int{}, refuse: 2}
	ptraceotlp.RegisterGRPCServer(srv, sink)
	go func() { _ = srv.Serve(l) }()
	defer srv.Stop()

	ts, err := buildTemplates(shapeMixed, 500, 100, testEnd)
	require.NoError(t, err)
	require.Len(t, ts, 2)
	g := &loadgen{templates: ts, streams: 4, maxRequests: 10}
	require.NoError(t, g.start(l.Addr().String()))
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		t.Fatal("load generator did not stop after 10 requests")
	}
	assert.Equal(t, int64(2), g.refused.Load())
	assert.Contains(t, g.lastError(), "rejected 500 spans: queue is full")
	// Streams that were mid-request when the tenth was accepted finish theirs.
	n := g.requests.Load()
	assert.GreaterOrEqual(t, n, int64(10))
	assert.Equal(t, n*500, g.spans.Load())
	assert.Equal(t, n*50, g.calls.Load())
	sink.mu.Lock()
	defer sink.mu.Unlock()
	// A request in flight when the generator stopped may have arrived
	// without being counted.
	assert.GreaterOrEqual(t, sink.spans, int(n)*500)
	assert.LessOrEqual(t, sink.spans, int(n+4)*500)
	assert.Equal(t, sink.spans/10, len(sink.traceIDs), "every trace sent is new")
	for id, spans := range sink.traceIDs {
		assert.Equal(t, 10, spans, "trace %s", id)
	}
}

func TestParseStatCPU(t *testing.T) {
	// The name may hold spaces and parentheses.
	stat := "4242 (otelcol (x) y) S 1 4242 4242 0 -1 4194560 123 0 0 0 1500 250 0 0 20 0 12 0 100 0 0"
	n, err := parseStatCPU([]byte(stat))
	require.NoError(t, err)
	assert.Equal(t, int64(1750), n)
	_, err = parseStatCPU([]byte("4242 (x) S 1"))
	assert.EqualError(t, err, "/proc stat: 2 fields after the name")
}

func TestParseStatusKiB(t *testing.T) {
	status := "Name:\totelcol\nVmPeak:\t  900000 kB\nVmHWM:\t  123456 kB\nVmRSS:\t  100000 kB\n"
	n, err := parseStatusKiB([]byte(status), "VmHWM")
	require.NoError(t, err)
	assert.Equal(t, int64(123456), n)
	_, err = parseStatusKiB([]byte(status), "VmSwap")
	assert.EqualError(t, err, "/proc status: no VmSwap")
}

func TestParsePrometheus(t *testing.T) {
	m, err := parsePrometheus(strings.NewReader(`# HELP otelcol_process_runtime_total_alloc_bytes x
# TYPE otelcol_process_runtime_total_alloc_bytes counter
otelcol_process_runtime_total_alloc_bytes 4.0314e+06
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 1000
otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 24
target_info{service_name="otelcol-stock",note="a } in a label"} 1
`))
	require.NoError(t, err)
	a, ok := allocBytes(m)
	assert.True(t, ok)
	assert.Equal(t, 4.0314e+06, a)
	assert.Equal(t, 1024.0, m["otelcol_receiver_accepted_spans_total"])
	assert.Equal(t, 1.0, m["target_info"])
	_, ok = allocBytes(map[string]float64{})
	assert.False(t, ok)
}

// The table's medians and per-round ratios, on made-up runs.
func TestTableMath(t *testing.T) {
	s := shapeLLM
	mk := func(p pipeline, round int, spans, stored, ticks int64) run {
		return run{pipeline: p, shape: s, round: round, seconds: 2, spans: spans, calls: spans / 2,
			stored: stored, cpuTicks: ticks, allocBytes: float64(spans) * 1000, hwmKiB: 2048 * int64(round)}
	}
	rs := &results{bare: map[int]float64{1: 80000, 2: 40000, 3: 100000}}
	// Round 2 is a slow round for everything: per-round ratios cancel it.
	rs.runs = []run{
		mk(pFloor, 1, 800000, 0, 200), mk(pCost, 1, 720000, 0, 200), mk(pFull, 1, 0, 40000, 200),
		mk(pFloor, 2, 400000, 0, 200), mk(pCost, 2, 360000, 0, 200), mk(pFull, 2, 0, 20000, 200),
		mk(pFloor, 3, 1000000, 0, 200), mk(pCost, 3, 800000, 0, 200), mk(pFull, 3, 0, 60000, 200),
	}
	rows := rs.table(s)
	require.Len(t, rows, 3)
	floor, cost, full := rows[0], rows[1], rows[2]
	assert.Equal(t, 400000.0, floor.spansPerSec) // median of 400k, 200k, 500k spans/s
	assert.Equal(t, 200000.0, floor.lo)
	assert.Equal(t, 500000.0, floor.hi)
	assert.Equal(t, 1.0, floor.vsFloor)
	assert.Equal(t, 0.9, cost.vsFloor) // ratios 0.9, 0.9, 0.8
	assert.Equal(t, 360000.0, cost.spansPerSec)
	assert.Equal(t, 180000.0, cost.callsPerSec)
	// Full: stored calls/s 20k, 10k, 30k; spans of stored calls ×2.
	assert.Equal(t, 20000.0, full.callsPerSec)
	assert.Equal(t, 40000.0, full.spansPerSec)
	assert.Equal(t, 0.1, full.vsFloor) // 40k/400k, 20k/200k, 60k/500k → 0.1, 0.1, 0.12
	// CPU: 200 ticks = 2 s = 2e6 µs. Cost µs/call per round: 5.56, 11.1,
	// 5.0. Extra over the floor per call, (cost − floor µs/span) × 2:
	// (2.78−2.5)×2 = 0.56, (5.56−5)×2 = 1.11, (2.5−2)×2 = 1.0.
	assert.InDelta(t, 2e6/720000.0*2, cost.cpuPerCall, 1e-9)
	assert.InDelta(t, 1.0, cost.extraCPUPerCall, 1e-9)
	assert.InDelta(t, 2e6/40000.0, full.cpuPerCall, 1e-9) // per stored call, round 1 (the median)
	assert.Equal(t, 2.0, floor.allocPerCall/1000)
	assert.Equal(t, 4.0, floor.hwmMiB)
	// Stored calls/s over bare rows/s per round: 0.25, 0.25, 0.3.
	assert.Equal(t, 0.25, rs.vsBare(pFull, s))
	assert.True(t, math.IsNaN(rs.vsBare(pNoBal, s)))

	var out strings.Builder
	rs.print(&out, []shape{s})
	assert.Contains(t, out.String(), "| otlp → genai_cost → nop | 360k (180k–400k) | 180k | 0.90× | 2.78 | 5.56 | 1.00 |")
	assert.Contains(t, out.String(), "stored calls/s ÷ bare SQLite insert rows/s (same rounds): **0.25×**")
	assert.Contains(t, out.String(), "80k rows/s (median; 40k–100k over 3 rounds)")
}

func TestMedian(t *testing.T) {
	assert.Equal(t, 2.0, median([]float64{3, 1, 2}))
	assert.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	assert.Equal(t, 1.0, median([]float64{math.NaN(), 1}))
	assert.True(t, math.IsNaN(median(nil)))
}

func TestFlatCheck(t *testing.T) {
	// The first quarter (start-up) is left out.
	f := flatCheck([]float64{10, 50, 100, 104, 102, 108, 105, 109}, 0.10)
	assert.Equal(t, flatness{firstPeak: 104, secondPeak: 109, flat: true}, f)
	f = flatCheck([]float64{10, 50, 100, 110, 120, 130, 140, 150}, 0.10)
	assert.Equal(t, flatness{firstPeak: 120, secondPeak: 150, flat: false}, f)
}

// The bare insert stores every row into a table with the ledger's columns
// and its primary key only.
func TestBareInsert(t *testing.T) {
	dir := t.TempDir()
	cols, err := usageColumns(context.Background(), dir)
	require.NoError(t, err)
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	assert.Contains(t, names, "event_id")
	assert.Contains(t, names, "tenant_id")
	assert.Contains(t, names, "cost_usd")
	ddl := bareTableSQL(cols)
	assert.Contains(t, ddl, "event_id TEXT NOT NULL PRIMARY KEY")
	assert.NotContains(t, ddl, "INDEX")
	rate, err := bareInsert(context.Background(), dir, cols, 10000, 100)
	require.NoError(t, err)
	assert.Positive(t, rate)
}

// A soak whose store falls behind says so: its RSS is the queue's backlog.
func TestVerdictBacklog(t *testing.T) {
	curve := make([]soakSample, 8)
	for i := range curve {
		curve[i] = soakSample{sent: int64(i) * 10000, stored: int64(i) * 10000, rssKiB: 100 << 10, goroutines: 40}
	}
	var out strings.Builder
	verdict(&out, curve)
	assert.Equal(t, "RSS: FLAT (peak 100 MiB in the first half, 100 MiB in the second, after the first quarter; flat = within 10%)\n"+
		"goroutines: FLAT (peak 40 in the first half, 40 in the second, after the first quarter; flat = within 10%)\n", out.String())
	curve[5].stored -= 40000
	out.Reset()
	verdict(&out, curve)
	assert.Contains(t, out.String(), "NOT A LEAK TEST: the store fell behind the offered rate (backlog up to 40000 calls, more than 32768)")
}
