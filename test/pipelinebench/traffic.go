package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// shape is a kind of traffic: how many spans a trace has, one of which is an
// LLM call.
type shape struct {
	name string
	// spansPerTrace includes the server span and the one GenAI chat span.
	spansPerTrace int
	about         string
}

var (
	// shapeLLM: every trace is an LLM call (the worst case for genai_cost).
	shapeLLM = shape{name: "llm", spansPerTrace: 2, about: "every trace an LLM call: server span (tenant.id) + 1 chat span"}
	// shapeMixed: 1 LLM call in 10 spans, the rest HTTP, database and queue
	// spans, as in a service that calls a model once per request.
	shapeMixed = shape{name: "mixed", spansPerTrace: 10, about: "1 LLM call in 10 spans: server, chat, 3 SQL, redis, 2 HTTP client, kafka publish, internal"}
)

func shapeByName(name string) (shape, error) {
	for _, s := range []shape{shapeLLM, shapeMixed} {
		if s.name == name {
			return s, nil
		}
	}
	return shape{}, fmt.Errorf("unknown traffic shape %q (want llm or mixed)", name)
}

// template is one marshalled ExportTraceServiceRequest and where each of its
// traces' IDs sit in the bytes. Sending it again with new bytes in the first
// half of every trace ID makes new, distinct calls (event IDs are trace ID +
// span ID) without marshalling anything: the load generator costs a copy of
// the body per request, so that the two shared cores go to the collector.
type template struct {
	body []byte
	// idOffsets are the offsets of every trace_id field's 16 bytes, of every
	// span, in body.
	idOffsets []int
	traces    int
	spans     int
	calls     int
}

// traceMarker fills the first half of every template trace ID; patch
// overwrites it with the request's sequence number.
var traceMarker = [8]byte{0xa5, 0x5a, 0xc3, 0x3c, 0x96, 0x69, 0x0f, 0xf0}

// llmModel is one model of the realistic mix, with the attributes its
// instrumentation writes (as in testdata/realclients).
type llmModel struct {
	scope, scopeVersion string
	request, response   string
	anthropic           bool
	input, output       int64
	cacheRead, cacheNew int64
}

var llmModels = []llmModel{
	{scope: "@opentelemetry/instrumentation-openai", scopeVersion: "0.22.0", request: "gpt-4o-mini", response: "gpt-4o-mini-2024-07-18", input: 1200, output: 310},
	{scope: "@opentelemetry/instrumentation-openai", scopeVersion: "0.22.0", request: "gpt-4o", response: "gpt-4o-2024-08-06", input: 4100, output: 730},
	{scope: "@traceloop/instrumentation-anthropic", scopeVersion: "0.27.0", request: "claude-sonnet-4-5", response: "claude-sonnet-4-5-20250929", anthropic: true, input: 3000, output: 600, cacheRead: 2000, cacheNew: 500},
	{scope: "@opentelemetry/instrumentation-openai", scopeVersion: "0.22.0", request: "o4-mini", response: "o4-mini-2025-04-16", input: 3300, output: 2600},
}

// buildTemplate makes request number idx of a shape: spansPerRequest spans
// (whole traces), tenants spread as tenant-NNNNN over `tenants`, span times
// ending at end. The chat span's parent is the server span, which carries
// tenant.id; as an SDK exports them, children (which end first) come before
// the server span.
func buildTemplate(s shape, idx, spansPerRequest, tenants int, end time.Time) (*template, error) {
	if spansPerRequest%s.spansPerTrace != 0 {
		return nil, fmt.Errorf("%d spans per request is not a whole number of %d-span traces", spansPerRequest, s.spansPerTrace)
	}
	traces := spansPerRequest / s.spansPerTrace
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

	scopes := map[string]ptrace.ScopeSpans{}
	scopeOrder := []string{}
	scope := func(name, version string) ptrace.SpanSlice {
		ss, ok := scopes[name]
		if !ok {
			ss = rs.ScopeSpans().AppendEmpty()
			ss.Scope().SetName(name)
			ss.Scope().SetVersion(version)
			scopes[name] = ss
			scopeOrder = append(scopeOrder, name)
		}
		return ss.Spans()
	}
	// Scopes in the order an SDK's batch would have them: the client spans
	// of a request end before its server span.
	for _, m := range llmModels {
		scope(m.scope, m.scopeVersion)
	}
	if s.spansPerTrace > 2 {
		scope("@opentelemetry/instrumentation-pg", "0.51.0")
		scope("@opentelemetry/instrumentation-ioredis", "0.47.0")
		scope("@opentelemetry/instrumentation-undici", "0.10.0")
		scope("@opentelemetry/instrumentation-kafkajs", "0.7.0")
		scope("support-bot", "")
	}
	http := scope("@opentelemetry/instrumentation-http", "0.57.0")

	for k := range traces {
		n := idx*traces + k
		var tid pcommon.TraceID
		copy(tid[:8], traceMarker[:])
		binary.BigEndian.PutUint32(tid[8:], uint32(idx))
		binary.BigEndian.PutUint32(tid[12:], uint32(k))
		spanID := func(j int) pcommon.SpanID {
			var sid pcommon.SpanID
			binary.BigEndian.PutUint32(sid[:4], uint32(n)+1)
			binary.BigEndian.PutUint32(sid[4:], uint32(j)+1)
			return sid
		}
		tEnd := end.Add(time.Duration(k) * time.Millisecond)
		server := spanID(0)
		child := func(ss ptrace.SpanSlice, j int, name string, kind ptrace.SpanKind, dur time.Duration) pcommon.Map {
			sp := ss.AppendEmpty()
			sp.SetTraceID(tid)
			sp.SetSpanID(spanID(j))
			sp.SetParentSpanID(server)
			sp.SetName(name)
			sp.SetKind(kind)
			off := time.Duration(j) * 20 * time.Millisecond
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(tEnd.Add(-time.Second + off)))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(tEnd.Add(-time.Second + off + dur)))
			return sp.Attributes()
		}

		m := llmModels[n%len(llmModels)]
		a := child(scope(m.scope, m.scopeVersion), 1, "chat "+m.request, ptrace.SpanKindClient, 800*time.Millisecond)
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

		if s.spansPerTrace > 2 {
			pg := scope("@opentelemetry/instrumentation-pg", "0.51.0")
			for j, q := range []string{
				"SELECT id, plan, locale FROM customers WHERE id = $1",
				"SELECT body, created_at FROM tickets WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20",
				"INSERT INTO answers (ticket_id, body, model) VALUES ($1, $2, $3)",
			} {
				a := child(pg, 2+j, "pg.query:"+q[:6]+" support", ptrace.SpanKindClient, 3*time.Millisecond)
				a.PutStr("db.system.name", "postgresql")
				a.PutStr("db.namespace", "support")
				a.PutStr("db.query.text", q)
				a.PutStr("db.operation.name", q[:6])
				a.PutStr("server.address", "pg-primary.internal")
				a.PutInt("server.port", 5432)
			}
			a := child(scope("@opentelemetry/instrumentation-ioredis", "0.47.0"), 5, "get", ptrace.SpanKindClient, time.Millisecond)
			a.PutStr("db.system.name", "redis")
			a.PutStr("db.query.text", "get session:?")
			a.PutStr("server.address", "redis.internal")
			a.PutInt("server.port", 6379)
			undici := scope("@opentelemetry/instrumentation-undici", "0.10.0")
			for j, u := range []string{"http://kb.internal/search?q=refund", "http://profile.internal/v1/users/42"} {
				a := child(undici, 6+j, "GET", ptrace.SpanKindClient, 12*time.Millisecond)
				a.PutStr("http.request.method", "GET")
				a.PutStr("url.full", u)
				a.PutStr("server.address", u[7:bytes.IndexByte([]byte(u[7:]), '/')+7])
				a.PutInt("http.response.status_code", 200)
				a.PutStr("network.protocol.version", "1.1")
			}
			a = child(scope("@opentelemetry/instrumentation-kafkajs", "0.7.0"), 8, "send answers", ptrace.SpanKindProducer, 2*time.Millisecond)
			a.PutStr("messaging.system", "kafka")
			a.PutStr("messaging.destination.name", "answers")
			a.PutStr("messaging.operation.type", "send")
			a.PutStr("messaging.operation.name", "send")
			a.PutInt("messaging.batch.message_count", 1)
			a = child(scope("support-bot", ""), 9, "render answer", ptrace.SpanKindInternal, 4*time.Millisecond)
			a.PutStr("code.function.name", "renderAnswer")
			a.PutInt("answer.length", 812)
		}

		sp := http.AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(server)
		sp.SetName("POST /v1/answers")
		sp.SetKind(ptrace.SpanKindServer)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(tEnd.Add(-1100 * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(tEnd))
		sa := sp.Attributes()
		sa.PutStr("http.request.method", "POST")
		sa.PutStr("http.route", "/v1/answers")
		sa.PutStr("url.path", "/v1/answers")
		sa.PutStr("url.scheme", "https")
		sa.PutInt("http.response.status_code", 200)
		sa.PutStr("server.address", "api.support-bot.example")
		sa.PutStr("client.address", "10.4.7.19")
		sa.PutStr("user_agent.original", "support-widget/3.2 (+https://support-bot.example)")
		sa.PutStr("tenant.id", fmt.Sprintf("tenant-%05d", n%tenants))
		sa.PutStr("user.id", fmt.Sprintf("user-%d", n%50000))
	}
	// Empty scopes (a model not in this request) would still be sent: drop them.
	rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })

	body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return nil, err
	}
	t := &template{body: body, traces: traces, spans: td.SpanCount(), calls: traces}
	for k := range traces {
		var tid [16]byte
		copy(tid[:8], traceMarker[:])
		binary.BigEndian.PutUint32(tid[8:], uint32(idx))
		binary.BigEndian.PutUint32(tid[12:], uint32(k))
		found := 0
		for from := 0; ; {
			i := bytes.Index(body[from:], tid[:])
			if i < 0 {
				break
			}
			t.idOffsets = append(t.idOffsets, from+i)
			from += i + len(tid)
			found++
		}
		if found != s.spansPerTrace {
			return nil, fmt.Errorf("trace %d of request %d: found its ID %d times in the body, want %d", k, idx, found, s.spansPerTrace)
		}
	}
	return t, nil
}

// patch writes seq over the marker half of every trace ID of dst, a copy of
// t.body: every request sent carries new trace IDs, hence new calls.
func (t *template) patch(dst []byte, seq uint64) {
	for _, off := range t.idOffsets {
		binary.BigEndian.PutUint64(dst[off:], seq)
	}
}

// buildTemplates makes enough requests to cover every tenant at least once
// (at least one).
func buildTemplates(s shape, spansPerRequest, tenants int, end time.Time) ([]*template, error) {
	traces := spansPerRequest / s.spansPerTrace
	n := max(1, (tenants+traces-1)/max(traces, 1))
	out := make([]*template, 0, n)
	for i := range n {
		t, err := buildTemplate(s, i, spansPerRequest, tenants, end)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}
