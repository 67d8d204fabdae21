package genaicostprocessor

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
)

// Run with: go test -run '^$' -bench . -benchmem ./processor/genaicostprocessor/
// The figures are reported, never asserted: speed depends on the machine.

// realClientCaptures are the spans of real instrumentations in testdata/realclients.
var realClientCaptures = []string{"otel-openai", "traceloop-openai", "traceloop-anthropic", "openinference-openai", "vercel-ai"}

// loadCapture reads an OTLP/JSON lines capture into one Traces.
func loadCapture(tb testing.TB, name string) ptrace.Traces {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "realclients", name+".otlp.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
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
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		td.ResourceSpans().MoveAndAppendTo(out.ResourceSpans())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// forEachSpan calls f on every span of td.
func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				f(spans.At(k))
			}
		}
	}
}

// retrace gives every trace of td a trace id of its own for copy n: the same
// structure, new traces, as a collector sees them in production.
func retrace(td ptrace.Traces, n uint64) {
	forEachSpan(td, func(s ptrace.Span) {
		id := s.TraceID()
		binary.BigEndian.PutUint64(id[8:], binary.BigEndian.Uint64(id[8:])^n)
		s.SetTraceID(id)
	})
}

// plainSpans appends n non-GenAI spans (HTTP server and PostgreSQL client spans,
// as the OTel JS instrumentations write them), each in a trace of its own.
func plainSpans(td ptrace.Traces, n int) {
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "checkout")
	rs.Resource().Attributes().PutStr("deployment.environment.name", "production")
	httpSS := rs.ScopeSpans().AppendEmpty()
	httpSS.Scope().SetName("@opentelemetry/instrumentation-http")
	httpSS.Scope().SetVersion("0.208.0")
	dbSS := rs.ScopeSpans().AppendEmpty()
	dbSS.Scope().SetName("@opentelemetry/instrumentation-pg")
	dbSS.Scope().SetVersion("0.61.0")
	end := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		var s ptrace.Span
		if i%2 == 0 {
			s = httpSS.Spans().AppendEmpty()
			s.SetName("POST /api/cart")
			s.SetKind(ptrace.SpanKindServer)
			a := s.Attributes()
			a.PutStr("http.request.method", "POST")
			a.PutStr("url.path", "/api/cart")
			a.PutStr("url.scheme", "https")
			a.PutStr("server.address", "shop.example.com")
			a.PutInt("http.response.status_code", 200)
			a.PutStr("user_agent.original", "Mozilla/5.0")
			a.PutStr("tenant.id", "tenant-plain")
		} else {
			s = dbSS.Spans().AppendEmpty()
			s.SetName("SELECT shop.carts")
			s.SetKind(ptrace.SpanKindClient)
			a := s.Attributes()
			a.PutStr("db.system.name", "postgresql")
			a.PutStr("db.namespace", "shop")
			a.PutStr("db.collection.name", "carts")
			a.PutStr("db.operation.name", "SELECT")
			a.PutStr("db.query.text", "SELECT id, items FROM carts WHERE user_id = $1")
			a.PutStr("server.address", "db.internal")
			a.PutInt("server.port", 5432)
		}
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], 0x706c61696e) // "plain"
		binary.BigEndian.PutUint64(tid[8:], uint64(i))
		s.SetTraceID(tid)
		s.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, byte(i%250) + 1})
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-20 * time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	}
}

// mixedBatch is 1,000 spans: the five real-client captures (chat, streaming,
// embeddings, Anthropic cache tokens, reasoning; with their application and
// agent spans) repeated 12 times with fresh trace ids, 192 spans of which 132
// LLM calls, and 808 plain HTTP and database spans.
func mixedBatch(tb testing.TB) (td ptrace.Traces, calls int) {
	td = ptrace.NewTraces()
	for rep := range 12 {
		for _, name := range realClientCaptures {
			c := loadCapture(tb, name)
			retrace(c, uint64(rep+1))
			c.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
		}
	}
	calls = 12 * 11 // 11 LLM calls in the captures (see test/e2e/ledger_test.go)
	plainSpans(td, 1000-td.SpanCount())
	if td.SpanCount() != 1000 {
		tb.Fatalf("mixed batch has %d spans", td.SpanCount())
	}
	return td, calls
}

// newBenchProcessor wires the processor as the collector does (processorhelper,
// no-op telemetry) in front of a consumer that discards.
func newBenchProcessor(tb testing.TB, cfg *Config, next consumer.Traces) (*costProcessor, processor.Traces) {
	tb.Helper()
	set := processortest.NewNopSettings(metadata.Type)
	p, err := newCostProcessor(set, cfg, next)
	if err != nil {
		tb.Fatal(err)
	}
	tp, err := processorhelper.NewTraces(context.Background(), set, cfg, next, p.processTraces,
		processorhelper.WithCapabilities(consumer.Capabilities{MutatesData: true}),
		processorhelper.WithStart(p.start), processorhelper.WithShutdown(p.shutdown))
	if err != nil {
		tb.Fatal(err)
	}
	if err := tp.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		tb.Fatal(err)
	}
	return p, tp
}

// BenchmarkProcessMixedBatch: one op is a batch of 1,000 spans (132 LLM calls
// in the dialects of five real instrumentations, 868 other spans). Every trace
// is complete in its batch, so nothing is held: this is the steady-state cost
// per span, in the steady state: the ancestor memory and the call indexes
// are filled (fill) before the measure.
func BenchmarkProcessMixedBatch(b *testing.B) {
	src, calls := mixedBatch(b)
	spans := src.SpanCount()
	cfg := createDefaultConfig().(*Config)
	benchRemembered(b, cfg)
	p, tp := newBenchProcessor(b, cfg, consumertest.NewNop())
	defer func() { _ = tp.Shutdown(context.Background()) }()
	fill(b, tp, src, cfg.Attribution.Ancestors.MaxRememberedSpans)

	mallocs := measureBatches(b, p, tp, src, func(i int) uint64 { return uint64(i) << 8 })
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*spans), "ns/span")
	b.ReportMetric(float64(mallocs)/float64(b.N*spans), "allocs/span")
	b.ReportMetric(float64(b.N*calls)/b.Elapsed().Seconds(), "calls/s")
}

// measureBatches times b.N batches, each a copy of src with the trace ids of
// op i (traceBits), and returns the mallocs they made (counted around
// ConsumeTraces alone, as the timer is). Every trace is complete in its batch:
// it fails if a call is left held.
func measureBatches(b *testing.B, p *costProcessor, tp processor.Traces, src ptrace.Traces, traceBits func(i int) uint64) uint64 {
	b.Helper()
	ctx := context.Background()
	var ms runtime.MemStats
	var mallocs uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		td := ptrace.NewTraces()
		src.CopyTo(td)
		retrace(td, traceBits(i))
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		b.StartTimer()
		if err := tp.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		mallocs += ms.Mallocs - before
		b.StartTimer()
	}
	b.StopTimer()
	if n := p.held.Len(); n != 0 {
		b.Fatalf("%d calls held: the batch is meant to be complete", n)
	}
	return mallocs
}

// benchRemembered sets max_remembered_spans of the batch benchmarks from
// GENAIMETER_BENCH_REMEMBERED_SPANS when set: instruction counts under
// callgrind, where filling the default 100,000 spans takes minutes (the
// instructions per span do not depend on the capacity; the cache misses do,
// which callgrind does not count).
func benchRemembered(b *testing.B, cfg *Config) {
	if v := os.Getenv("GENAIMETER_BENCH_REMEMBERED_SPANS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("GENAIMETER_BENCH_REMEMBERED_SPANS=%q: want a positive number", v)
		}
		cfg.Attribution.Ancestors.MaxRememberedSpans = n
	}
}

// fill sends copies of src with trace ids of their own (none a benchmark
// uses) until the processor has seen spans spans: its ancestor memory and call
// indexes are then full, and every span measured evicts one, as in a
// collector that has run for a while.
func fill(b *testing.B, tp processor.Traces, src ptrace.Traces, spans int) {
	b.Helper()
	for n, i := 0, uint64(1); n < spans; n, i = n+src.SpanCount(), i+1 {
		td := ptrace.NewTraces()
		src.CopyTo(td)
		retrace(td, i<<48)
		if err := tp.ConsumeTraces(context.Background(), td); err != nil {
			b.Fatal(err)
		}
	}
}

// heldCalls is how many calls BenchmarkHeldCallsMemory keeps waiting.
const heldCalls = 100_000

// BenchmarkHeldCallsMemory holds 100,000 LLM calls whose ancestors have not
// arrived (the OTel JS OpenAI chat span of the real capture, each in a trace
// of its own) and reports the heap they keep in use (runtime.MemStats
// HeapInuse after a GC): held-MB and B/held-call for the held calls and their
// entries in the ancestor memory; fixed-MB for what the processor allocates up
// front (the ancestor memory sized for max_remembered_spans, 100,000).
// callBatch is n copies of the OTel JS OpenAI gpt-4o chat span of the real
// capture, with its resource and scope.
func callBatch(b *testing.B, n int) ptrace.Traces {
	capture := loadCapture(b, "otel-openai")
	var call ptrace.Span
	var callRS ptrace.ResourceSpans
	var callSS ptrace.ScopeSpans
	rss := capture.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				if v, ok := spans.At(k).Attributes().Get("gen_ai.request.model"); ok && v.Str() == "gpt-4o" {
					call, callRS, callSS = spans.At(k), rss.At(i), sss.At(j)
				}
			}
		}
	}
	if call == (ptrace.Span{}) {
		b.Fatal("no gpt-4o call in the otel-openai capture")
	}
	batch := ptrace.NewTraces()
	rs := batch.ResourceSpans().AppendEmpty()
	callRS.Resource().CopyTo(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	callSS.Scope().CopyTo(ss.Scope())
	for range n {
		call.CopyTo(ss.Spans().AppendEmpty())
	}
	return batch
}

func BenchmarkHeldCallsMemory(b *testing.B) {
	// Batches of 1,000 calls, as an SDK's BatchSpanProcessor sends them.
	const perBatch = 1000
	batch := callBatch(b, perBatch)

	heapInuse := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	ctx := context.Background()
	var fixed, held uint64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cfg := createDefaultConfig().(*Config)
		cfg.Attribution.Ancestors.Wait = time.Hour
		cfg.Attribution.Ancestors.MaxPendingSpans = heldCalls
		m0 := heapInuse()
		p, tp := newBenchProcessor(b, cfg, consumertest.NewNop())
		m1 := heapInuse()
		b.StartTimer()
		for n := 0; n < heldCalls; n += perBatch {
			b.StopTimer()
			td := ptrace.NewTraces()
			batch.CopyTo(td)
			spans := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
			for k := 0; k < spans.Len(); k++ {
				var tid pcommon.TraceID
				binary.BigEndian.PutUint64(tid[:8], uint64(i)+1)
				binary.BigEndian.PutUint64(tid[8:], uint64(n+k))
				spans.At(k).SetTraceID(tid)
			}
			b.StartTimer()
			// Every call is held: ConsumeTraces has nothing to pass on.
			if err := tp.ConsumeTraces(ctx, td); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if got := p.held.Len(); got != heldCalls {
			b.Fatalf("%d calls held, want %d", got, heldCalls)
		}
		m2 := heapInuse()
		fixed, held = m1-m0, m2-m1
		runtime.KeepAlive(p)
		// Shutdown lets the calls go (to the no-op consumer): outside the measure.
		if err := tp.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(held)/1e6, "held-MB")
	b.ReportMetric(float64(held)/heldCalls, "B/held-call")
	b.ReportMetric(float64(fixed)/1e6, "fixed-MB")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*heldCalls), "ns/held-call")
}

// BenchmarkHoldThenRelease: one op is a batch of 100 LLM calls (the OTel JS
// OpenAI chat span, each in a trace of its own) whose root spans have not
// come, all held, then the batch of their 100 roots, which lets them all go,
// attributed. "memory" holds them in memory only; "storage" also keeps them in
// attribution.ancestors.storage, here an in-memory storage client (the cost
// of the processor's side: encoding, index, bookkeeping; a file_storage write
// adds its fsync). Reported per call.
func BenchmarkHoldThenRelease(b *testing.B) {
	const perBatch = 100
	calls := callBatch(b, perBatch)
	for _, stored := range []bool{false, true} {
		name := "memory"
		if stored {
			name = "storage"
		}
		b.Run(name, func(b *testing.B) {
			cfg := createDefaultConfig().(*Config)
			cfg.Attribution.Ancestors.Wait = time.Hour
			host := componenttest.NewNopHost()
			if stored {
				cfg.Attribution.Ancestors.Storage = &storageID
				host = extHost{Host: host, exts: map[component.ID]component.Component{storageID: &memStorageExt{client: newMemStorage()}}}
			}
			set := processortest.NewNopSettings(metadata.Type)
			p, err := newCostProcessor(set, cfg, consumertest.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			tp, err := newTracesProcessor(context.Background(), set, cfg, p)
			if err != nil {
				b.Fatal(err)
			}
			if err := tp.Start(context.Background(), host); err != nil {
				b.Fatal(err)
			}
			defer func() { _ = tp.Shutdown(context.Background()) }()
			ctx := context.Background()
			var ms runtime.MemStats
			var mallocs uint64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				held := ptrace.NewTraces()
				calls.CopyTo(held)
				roots := ptrace.NewTraces()
				rootSpans := roots.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
				spans := held.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
				for k := 0; k < spans.Len(); k++ {
					var tid pcommon.TraceID
					binary.BigEndian.PutUint64(tid[:8], uint64(i)+1)
					binary.BigEndian.PutUint64(tid[8:], uint64(k))
					spans.At(k).SetTraceID(tid)
					spans.At(k).SetParentSpanID(pcommon.SpanID{1})
					r := rootSpans.AppendEmpty()
					r.SetTraceID(tid)
					r.SetSpanID(pcommon.SpanID{1})
					r.Attributes().PutStr("tenant.id", "acme")
				}
				runtime.ReadMemStats(&ms)
				before := ms.Mallocs
				b.StartTimer()
				if err := tp.ConsumeTraces(ctx, held); err != nil {
					b.Fatal(err)
				}
				if err := tp.ConsumeTraces(ctx, roots); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				runtime.ReadMemStats(&ms)
				mallocs += ms.Mallocs - before
				if n := p.held.Len(); n != 0 {
					b.Fatalf("%d calls still held", n)
				}
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/call")
			b.ReportMetric(float64(mallocs)/float64(b.N*perBatch), "allocs/call")
		})
	}
}

// benchLLMModels are the models of the pipeline harness's traffic
// (test/pipelinebench/traffic.go): three OTel JS OpenAI calls and a Traceloop
// Anthropic call with cache reads and writes, as their instrumentations write
// them.
var benchLLMModels = []struct {
	scope, request, response string
	anthropic                bool
	input, output            int64
	cacheRead, cacheNew      int64
}{
	{scope: "@opentelemetry/instrumentation-openai", request: "gpt-4o-mini", response: "gpt-4o-mini-2024-07-18", input: 1200, output: 310},
	{scope: "@opentelemetry/instrumentation-openai", request: "gpt-4o", response: "gpt-4o-2024-08-06", input: 4100, output: 730},
	{scope: "@traceloop/instrumentation-anthropic", request: "claude-sonnet-4-5", response: "claude-sonnet-4-5-20250929", anthropic: true, input: 3000, output: 600, cacheRead: 2000, cacheNew: 500},
	{scope: "@opentelemetry/instrumentation-openai", request: "o4-mini", response: "o4-mini-2025-04-16", input: 3300, output: 2600},
}

// llmBatch is the LLM-only request of the pipeline harness (make
// bench-pipeline, shape llm): traces of two spans, an HTTP server span with
// tenant.id and user.id (tenants spread over 1,000) and its chat span, the
// chat spans first (children end, and are exported, before their parent),
// one resource, a scope per instrumentation.
func llmBatch(traces int) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ra := rs.Resource().Attributes()
	ra.PutStr("service.name", "support-bot")
	ra.PutStr("service.version", "2.14.1")
	ra.PutStr("deployment.environment.name", "production")
	ra.PutStr("host.name", "support-bot-7d9f8c6b5-x2k4p")
	ra.PutStr("telemetry.sdk.language", "nodejs")
	ra.PutStr("telemetry.sdk.name", "opentelemetry")
	ra.PutStr("telemetry.sdk.version", "1.30.0")
	scopes := map[string]ptrace.SpanSlice{}
	scope := func(name, version string) ptrace.SpanSlice {
		s, ok := scopes[name]
		if !ok {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(name)
			ss.Scope().SetVersion(version)
			s = ss.Spans()
			scopes[name] = s
		}
		return s
	}
	scope("@opentelemetry/instrumentation-openai", "0.22.0")
	scope("@traceloop/instrumentation-anthropic", "0.27.0")
	http := scope("@opentelemetry/instrumentation-http", "0.57.0")
	end := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for n := range traces {
		var tid pcommon.TraceID
		binary.BigEndian.PutUint64(tid[:8], 0x6c6c6d) // "llm"
		binary.BigEndian.PutUint64(tid[8:], uint64(n))
		server := pcommon.SpanID{0, 0, 0, 1, byte(n >> 16), byte(n >> 8), byte(n), 1}
		tEnd := end.Add(time.Duration(n) * time.Millisecond)

		m := benchLLMModels[n%len(benchLLMModels)]
		sp := scope(m.scope, "").AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{0, 0, 0, 1, byte(n >> 16), byte(n >> 8), byte(n), 2})
		sp.SetParentSpanID(server)
		sp.SetName("chat " + m.request)
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(tEnd.Add(-980 * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(tEnd.Add(-180 * time.Millisecond)))
		a := sp.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		if m.anthropic {
			a.PutStr("gen_ai.provider.name", "anthropic")
			a.PutStr("gen_ai.request.model", m.request)
			a.PutInt("gen_ai.request.max_tokens", 2048)
			a.PutStr("gen_ai.response.model", m.response)
			a.PutEmptySlice("gen_ai.response.finish_reasons").AppendEmpty().SetStr("stop")
			a.PutInt("gen_ai.usage.total_tokens", m.input+m.output)
			a.PutInt("gen_ai.usage.output_tokens", m.output)
			a.PutInt("gen_ai.usage.input_tokens", m.input)
			a.PutInt("gen_ai.usage.cache_creation.input_tokens", m.cacheNew)
			a.PutInt("gen_ai.usage.cache_read.input_tokens", m.cacheRead)
		} else {
			a.PutStr("gen_ai.request.model", m.request)
			a.PutStr("gen_ai.system", "openai")
			a.PutStr("server.address", "api.openai.com")
			a.PutInt("server.port", 443)
			a.PutEmptySlice("gen_ai.response.finish_reasons").AppendEmpty().SetStr("stop")
			a.PutStr("gen_ai.response.id", fmt.Sprintf("chatcmpl-%08d", n))
			a.PutStr("gen_ai.response.model", m.response)
			a.PutInt("gen_ai.usage.input_tokens", m.input+int64(n%97))
			a.PutInt("gen_ai.usage.output_tokens", m.output)
		}

		s := http.AppendEmpty()
		s.SetTraceID(tid)
		s.SetSpanID(server)
		s.SetName("POST /v1/answers")
		s.SetKind(ptrace.SpanKindServer)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(tEnd.Add(-1100 * time.Millisecond)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(tEnd))
		sa := s.Attributes()
		sa.PutStr("http.request.method", "POST")
		sa.PutStr("http.route", "/v1/answers")
		sa.PutStr("url.path", "/v1/answers")
		sa.PutStr("url.scheme", "https")
		sa.PutInt("http.response.status_code", 200)
		sa.PutStr("server.address", "api.support-bot.example")
		sa.PutStr("client.address", "10.4.7.19")
		sa.PutStr("user_agent.original", "support-widget/3.2 (+https://support-bot.example)")
		sa.PutStr("tenant.id", fmt.Sprintf("tenant-%05d", n%1000))
		sa.PutStr("user.id", fmt.Sprintf("user-%d", n%50000))
	}
	return td
}

// BenchmarkProcessLLMBatch: one op is a request of the pipeline harness's
// LLM-only traffic (make bench-pipeline, shape llm): 500 spans, 250 traces of
// a server span with tenant.id and its chat span (OpenAI, and Anthropic with
// cache tokens), under the harness's configuration of genai_cost. Every
// trace is complete in its batch, so nothing is held. Reported per LLM call.
func BenchmarkProcessLLMBatch(b *testing.B) {
	const calls = 250
	src := llmBatch(calls)
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Tenant = []string{"tenant.id", "tenant_id"}
	cfg.Attribution.User = []string{"user.id", "enduser.id"}
	benchRemembered(b, cfg)
	// The first batch is checked: every call priced and attributed to its
	// server span's tenant.
	checked := false
	next, _ := consumer.NewTraces(func(_ context.Context, td ptrace.Traces) error {
		if checked {
			return nil
		}
		checked = true
		n := 0
		forEachSpan(td, func(s ptrace.Span) {
			a := s.Attributes()
			if _, ok := a.Get("gen_ai.operation.name"); !ok {
				return
			}
			n++
			st, _ := a.Get(usage.AttrPricingStatus)
			tenant, _ := a.Get(usage.AttrTenantID)
			if st.Str() != usage.StatusPriced || !strings.HasPrefix(tenant.Str(), "tenant-") {
				b.Errorf("call %s: pricing_status %q, tenant %q", s.Name(), st.Str(), tenant.Str())
			}
		})
		if n != calls {
			b.Errorf("%d calls metered, want %d", n, calls)
		}
		return nil
	})
	p, tp := newBenchProcessor(b, cfg, next)
	defer func() { _ = tp.Shutdown(context.Background()) }()
	fill(b, tp, src, cfg.Attribution.Ancestors.MaxRememberedSpans)

	mallocs := measureBatches(b, p, tp, src, func(i int) uint64 { return uint64(i+1) << 20 })
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*calls), "ns/call")
	b.ReportMetric(float64(mallocs)/float64(b.N*calls), "allocs/call")
}
