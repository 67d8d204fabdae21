package genaiconv

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchBatch builds a mixed batch of n spans: GenAI spans of several dialects
// (about 60%) and plain HTTP/DB spans.
func benchBatch(b testing.TB, n int) ([]ptrace.Span, []Scope) {
	return buildSpans(b, benchProtos, n)
}

// benchProtos are the spans of benchBatch.
var benchProtos = []spanProto{
	{"chat gpt-4o", Scope{Name: "@opentelemetry/instrumentation-openai", Version: "0.22.0"}, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.response.id": "chatcmpl-1", "server.address": "api.openai.com",
		"server.port": 443, "gen_ai.usage.input_tokens": 4100, "gen_ai.usage.output_tokens": 730}},
	{"chat claude-sonnet-4-5", Scope{Name: "@traceloop/instrumentation-anthropic", Version: "0.27.0"}, map[string]any{
		"gen_ai.provider.name": "anthropic", "gen_ai.operation.name": "chat", "gen_ai.request.model": "claude-sonnet-4-5",
		"gen_ai.response.model": "claude-sonnet-4-5-20250929", "gen_ai.usage.total_tokens": 6000,
		"gen_ai.usage.output_tokens": 800, "gen_ai.usage.input_tokens": 5200,
		"gen_ai.usage.cache_creation.input_tokens": 1100, "gen_ai.usage.cache_read.input_tokens": 4000,
		"traceloop.association.properties.tenant_id": "t"}},
	{"OpenAI Chat Completions", Scope{Name: "@arizeai/openinference-instrumentation-openai", Version: "4.2.7"}, map[string]any{
		"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini-2024-07-18", "llm.system": "openai",
		"input.value": "hello", "input.mime_type": "text/plain", "output.value": "hi",
		"llm.token_count.prompt": 7000, "llm.token_count.completion": 650, "llm.token_count.total": 7650,
		"llm.token_count.prompt_details.cache_read": 2048, "llm.token_count.completion_details.reasoning": 0}},
	{"ai.generateText.doGenerate", Scope{Name: "ai"}, map[string]any{
		"operation.name": "ai.generateText.doGenerate draft-email", "ai.operationId": "ai.generateText.doGenerate",
		"ai.telemetry.functionId": "draft-email", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o",
		"ai.telemetry.metadata.tenant_id": "tenant-e", "gen_ai.system": "openai.chat", "gen_ai.request.model": "gpt-4o",
		"ai.response.model": "gpt-4o-2024-08-06", "ai.usage.inputTokens": 1300, "ai.usage.outputTokens": 420,
		"ai.usage.cachedInputTokens": 0, "gen_ai.response.model": "gpt-4o-2024-08-06",
		"gen_ai.usage.input_tokens": 1300, "gen_ai.usage.output_tokens": 420}},
	{"ai.generateText", Scope{Name: "ai"}, map[string]any{
		"ai.operationId": "ai.generateText", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o",
		"ai.usage.inputTokens": 1300, "ai.usage.outputTokens": 420}},
	{"chat claude-3-5-haiku", Scope{Name: "openlit.otel.tracing", Version: "1.35.0"}, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-3-5-haiku-20241022",
		"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5, "gen_ai.usage.cache_read.input_tokens": 512,
		"gen_ai.usage.cache_creation.input_tokens": 1733, "telemetry.sdk.name": "openlit", "service.name": "svc"}},
	{"POST /api/reply", Scope{Name: "@opentelemetry/instrumentation-http"}, map[string]any{
		"http.request.method": "POST", "url.path": "/api/reply", "url.scheme": "https", "server.address": "example.com",
		"server.port": 443, "http.response.status_code": 200, "network.protocol.version": "1.1", "user_agent.original": "curl"}},
	{"GET /health", Scope{Name: "@opentelemetry/instrumentation-http"}, map[string]any{
		"http.request.method": "GET", "url.path": "/health", "http.response.status_code": 200}},
	{"SELECT users", Scope{Name: "@opentelemetry/instrumentation-pg"}, map[string]any{
		"db.system.name": "postgresql", "db.query.text": "SELECT * FROM users WHERE id = $1", "db.namespace": "app",
		"server.address": "db", "server.port": 5432}},
	{"summarize", Scope{Name: "app"}, map[string]any{"tenant.id": "tenant-d", "user.id": "u-9"}},
}

// spanProto is a span for the benchmarks: name, scope and attributes.
type spanProto struct {
	name  string
	scope Scope
	attrs map[string]any
}

// plainProtos are spans that are no LLM call, in the shapes of the mixed
// traffic of test/pipelinebench (traffic.go): SQL, redis, HTTP client, kafka,
// an internal span and the HTTP server span carrying the tenant.
var plainProtos = []spanProto{
	{"pg.query:SELECT support", Scope{Name: "@opentelemetry/instrumentation-pg", Version: "0.51.0"}, map[string]any{
		"db.system.name": "postgresql", "db.namespace": "support", "db.operation.name": "SELECT",
		"db.query.text": "SELECT id, plan, locale FROM customers WHERE id = $1", "server.address": "pg-primary.internal", "server.port": 5432}},
	{"get", Scope{Name: "@opentelemetry/instrumentation-ioredis", Version: "0.47.0"}, map[string]any{
		"db.system.name": "redis", "db.query.text": "get session:?", "server.address": "redis.internal", "server.port": 6379}},
	{"GET", Scope{Name: "@opentelemetry/instrumentation-undici", Version: "0.10.0"}, map[string]any{
		"http.request.method": "GET", "url.full": "http://kb.internal/search?q=refund", "server.address": "kb.internal",
		"http.response.status_code": 200, "network.protocol.version": "1.1"}},
	{"send answers", Scope{Name: "@opentelemetry/instrumentation-kafkajs", Version: "0.7.0"}, map[string]any{
		"messaging.system": "kafka", "messaging.destination.name": "answers", "messaging.operation.type": "send",
		"messaging.operation.name": "send", "messaging.batch.message_count": 1}},
	{"render answer", Scope{Name: "support-bot"}, map[string]any{"code.function.name": "renderAnswer", "answer.length": 812}},
	{"POST /v1/answers", Scope{Name: "@opentelemetry/instrumentation-http", Version: "0.57.0"}, map[string]any{
		"http.request.method": "POST", "http.route": "/v1/answers", "url.path": "/v1/answers", "url.scheme": "https",
		"http.response.status_code": 200, "server.address": "api.support-bot.example", "client.address": "10.4.7.19",
		"user_agent.original": "support-widget/3.2 (+https://support-bot.example)", "tenant.id": "tenant-00042", "user.id": "user-42"}},
	{"/grpc.health.v1.Health/Check", Scope{Name: "@opentelemetry/instrumentation-grpc", Version: "0.57.0"}, map[string]any{
		"rpc.system": "grpc", "rpc.service": "grpc.health.v1.Health", "rpc.method": "Check", "rpc.grpc.status_code": 0,
		"server.address": "health.internal", "server.port": 50051}},
}

// llmProtos are LLM call spans in the dialects of benchBatch, plus the two
// chat spans of test/pipelinebench's traffic (OpenAI and Anthropic shapes).
// (the first six of benchProtos are its GenAI spans, one the Vercel wrapper).
func llmProtos() []spanProto {
	return append(append([]spanProto(nil), benchProtos[:6]...), pipelineChat...)
}

// pipelineChat are the LLM call spans of test/pipelinebench's traffic.
var pipelineChat = []spanProto{
	{"chat gpt-4o-mini", Scope{Name: "@opentelemetry/instrumentation-openai", Version: "0.3.0"}, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.system": "openai",
		"server.address": "api.openai.com", "server.port": 443, "gen_ai.response.finish_reasons": []any{"stop"},
		"gen_ai.response.id": "chatcmpl-00000042", "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
		"gen_ai.usage.input_tokens": 812, "gen_ai.usage.output_tokens": 230}},
	{"chat claude-sonnet-4-5", Scope{Name: "@traceloop/instrumentation-anthropic", Version: "0.27.0"}, map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
		"gen_ai.request.max_tokens": 2048, "gen_ai.response.model": "claude-sonnet-4-5-20250929",
		"gen_ai.response.finish_reasons": []any{"stop"}, "gen_ai.usage.total_tokens": 5300, "gen_ai.usage.output_tokens": 300,
		"gen_ai.usage.input_tokens": 5000, "gen_ai.usage.cache_creation.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 3000}},
}

// buildSpans makes n spans from protos in turn (every other one with its
// attributes in reverse order).
func buildSpans(b testing.TB, protos []spanProto, n int) ([]ptrace.Span, []Scope) {
	spans := make([]ptrace.Span, n)
	scopes := make([]Scope, n)
	for i := range spans {
		p := protos[i%len(protos)]
		spans[i], scopes[i] = mkSpan(b, p.name, p.attrs, i%2 == 1), p.scope
	}
	return spans, scopes
}

// benchExtract extracts spans per iteration and reports the time per span.
func benchExtract(b *testing.B, spans []ptrace.Span, scopes []Scope) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, s := range spans {
			if _, _, err := Extract(s, scopes[i], nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(spans)), "ns/span")
}

// BenchmarkExtractNotLLM: 1,000 spans that are no LLM call (plainProtos),
// the cost genai_cost adds to every other span of a traces pipeline.
func BenchmarkExtractNotLLM(b *testing.B) {
	spans, scopes := buildSpans(b, plainProtos, 1000)
	benchExtract(b, spans, scopes)
}

// BenchmarkExtractLLM: 1,000 LLM call spans (llmProtos: six dialects and
// the pipeline benchmark's two chat shapes).
func BenchmarkExtractLLM(b *testing.B) {
	spans, scopes := buildSpans(b, llmProtos(), 1000)
	benchExtract(b, spans, scopes)
}

// BenchmarkExtractMixedTraffic: test/pipelinebench's mixed traffic, 1 LLM
// call in 10 spans (the server span, 3 SQL, redis, 2 HTTP client, kafka, an
// internal span), 1,000 spans.
func BenchmarkExtractMixedTraffic(b *testing.B) {
	trace := []spanProto{pipelineChat[0], plainProtos[0], plainProtos[0], plainProtos[0], plainProtos[1],
		plainProtos[2], plainProtos[2], plainProtos[3], plainProtos[4], plainProtos[5]}
	spans, scopes := buildSpans(b, trace, 1000)
	benchExtract(b, spans, scopes)
}

// BenchmarkExtract extracts a mixed batch of 1,000 spans per iteration and
// reports the time per span.
func BenchmarkExtract(b *testing.B) {
	spans, scopes := benchBatch(b, 1000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i, s := range spans {
			if _, _, err := Extract(s, scopes[i], nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(spans)), "ns/span")
}

// TestExtractDoesNotAllocate pins the allocation-free path for spans without a
// reported cost or Langfuse JSON.
func TestExtractDoesNotAllocate(t *testing.T) {
	spans, scopes := benchBatch(t, 10)
	for i, s := range spans {
		n := testing.AllocsPerRun(50, func() {
			if _, _, err := Extract(s, scopes[i], nil); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("span %q allocates %v times", s.Name(), n)
		}
	}
}
