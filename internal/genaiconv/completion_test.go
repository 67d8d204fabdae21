package genaiconv

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// inferenceCalls extracts every Inference call of a capture in
// testdata/realclients, keyed by scope name.
func inferenceCalls(t *testing.T, file string) map[string][]Call {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "realclients", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]Call{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<22)
	var u ptrace.JSONUnmarshaler
	for sc.Scan() {
		td, err := u.UnmarshalTraces(sc.Bytes())
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			sss := td.ResourceSpans().At(i).ScopeSpans()
			for j := 0; j < sss.Len(); j++ {
				scope := ScopeOf(sss.At(j).Scope())
				spans := sss.At(j).Spans()
				for k := 0; k < spans.Len(); k++ {
					call, kind, err := Extract(spans.At(k), scope, nil)
					if err != nil {
						t.Fatalf("%s: %v", file, err)
					}
					if kind == Inference {
						out[scope.Name] = append(out[scope.Name], call)
					}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompletionFromRealStreams reads the streams the real packages wrote
// (complete, without include_usage, stopped by an AbortController; see
// testdata/realclients/README.md) and checks what each emitter's row makes of
// them. The stand-in sent 3000 raw input + 2000 cache read + 2000 cache
// write and 600 output for Anthropic, 2600 input (1024 cached) and 450 output
// for OpenAI.
func TestCompletionFromRealStreams(t *testing.T) {
	type want struct {
		completion, detail string
		streamed           bool
		in, out            int64
		reported           bool
	}
	cases := []struct {
		file, scope string
		want        want
	}{
		// JS OpenLLMetry, Anthropic: no finish reasons on streams; a stopped
		// stream keeps the message_start usage (output 1).
		{"traceloop-anthropic-stream.otlp.jsonl", "@traceloop/instrumentation-anthropic",
			want{CompletionComplete, "", true, 7000, 600, true}},
		{"traceloop-anthropic-stream-stopped.otlp.jsonl", "@traceloop/instrumentation-anthropic",
			want{CompletionStopped, DetailStartUsageOnly, true, 7000, 1, true}},
		{"traceloop-anthropic-usage.otlp.jsonl", "@traceloop/instrumentation-anthropic",
			want{CompletionComplete, "", false, 7000, 600, true}},
		// JS OpenLLMetry, OpenAI: no stream usage ever, finish "stop" by default.
		{"traceloop-openai-stream.otlp.jsonl", "@traceloop/instrumentation-openai",
			want{CompletionUnknown, DetailNoUsageNoStop, true, 0, 0, false}},
		{"traceloop-openai-stream-stopped.otlp.jsonl", "@traceloop/instrumentation-openai",
			want{CompletionUnknown, DetailNoUsageNoStop, true, 0, 0, false}},
		// OTel JS OpenAI: usage with include_usage; an empty finish list when stopped.
		{"otel-openai-stream.otlp.jsonl", "@opentelemetry/instrumentation-openai",
			want{CompletionComplete, "", false, 2600, 450, true}},
		{"otel-openai-stream-nousage.otlp.jsonl", "@opentelemetry/instrumentation-openai",
			want{CompletionComplete, "", false, 0, 0, false}},
		{"otel-openai-stream-stopped.otlp.jsonl", "@opentelemetry/instrumentation-openai",
			want{CompletionStopped, DetailEmptyFinish, false, 0, 0, false}},
		// OpenInference JS OpenAI: no stream usage; no finish reason when stopped.
		{"openinference-openai-stream.otlp.jsonl", "@arizeai/openinference-instrumentation-openai",
			want{CompletionComplete, DetailNoStreamUsage, true, 0, 0, false}},
		{"openinference-openai-stream-nousage.otlp.jsonl", "@arizeai/openinference-instrumentation-openai",
			want{CompletionComplete, DetailNoStreamUsage, true, 0, 0, false}},
		{"openinference-openai-stream-stopped.otlp.jsonl", "@arizeai/openinference-instrumentation-openai",
			want{CompletionStopped, DetailNoFinish, true, 0, 0, false}},
		// OpenInference JS Anthropic: inclusive; message_start usage when stopped.
		{"openinference-anthropic-stream.otlp.jsonl", "@arizeai/openinference-instrumentation-anthropic",
			want{CompletionComplete, "", true, 7000, 600, true}},
		{"openinference-anthropic-stream-stopped.otlp.jsonl", "@arizeai/openinference-instrumentation-anthropic",
			want{CompletionStopped, DetailStartUsageOnly, true, 7000, 1, true}},
		// Vercel AI SDK 6: doStream carries usage; a stopped one never ends (no span here).
		{"vercel-ai-anthropic-stream.otlp.jsonl", "ai", want{CompletionComplete, "", true, 7000, 600, true}},
		{"vercel-ai-openai-stream.otlp.jsonl", "ai", want{CompletionComplete, "", true, 2600, 450, true}},
		// Vercel AI SDK 7 (@ai-sdk/otel): a stopped chat span has no usage and no finish reason.
		{"vercel-ai7-anthropic-stream.otlp.jsonl", "gen_ai", want{CompletionComplete, "", false, 7000, 600, true}},
		{"vercel-ai7-anthropic-stream-stopped.otlp.jsonl", "gen_ai", want{CompletionStopped, DetailNoFinish, false, 0, 0, false}},
		{"vercel-ai7-openai-stream-stopped.otlp.jsonl", "gen_ai", want{CompletionStopped, DetailNoFinish, false, 0, 0, false}},
		// OpenLIT TS, Anthropic: exclusive input; output 601 on a complete
		// stream (message_start's 1 added to message_delta's 600, as written).
		{"openlit-anthropic-stream.otlp.jsonl", "@openlit/instrumentation-anthropic",
			want{CompletionComplete, "", true, 7000, 601, true}},
		{"openlit-anthropic-stream-stopped.otlp.jsonl", "@openlit/instrumentation-anthropic",
			want{CompletionStopped, DetailStartUsageOnly, true, 7000, 1, true}},
		// OpenLIT TS, OpenAI: tokenizer estimates when no stream usage was sent.
		{"openlit-openai-stream-nousage.otlp.jsonl", "@openlit/instrumentation-openai",
			want{CompletionUnknown, DetailEstimatedUsage, true, 13, 1, true}},
		{"openlit-openai-stream-stopped.otlp.jsonl", "@openlit/instrumentation-openai",
			want{CompletionUnknown, DetailEstimatedUsage, true, 14, 1, true}},
		// Langfuse JS (@langfuse/openai): the request parameters say "stream";
		// no usage without include_usage, and nothing tells a stopped stream.
		{"langfuse-openai-stream-nousage.otlp.jsonl", "langfuse-sdk",
			want{CompletionUnknown, DetailNoStreamUsageAny, true, 0, 0, false}},
		{"langfuse-openai-stream.otlp.jsonl", "langfuse-sdk",
			want{CompletionUnknown, "", true, 2600, 450, true}},
		// @anthropic-ai/sdk 1.x's own span: input inclusive, no output when stopped.
		{"openlit-anthropic-stream.otlp.jsonl", "com.anthropic.sdk.typescript",
			want{CompletionComplete, "", true, 7000, 600, true}},
		{"openlit-anthropic-stream-stopped.otlp.jsonl", "com.anthropic.sdk.typescript",
			want{CompletionStopped, DetailStartUsageOnly, true, 7000, 0, true}},
	}
	for _, tc := range cases {
		t.Run(tc.file+"/"+tc.scope, func(t *testing.T) {
			calls := inferenceCalls(t, tc.file)[tc.scope]
			if len(calls) == 0 {
				t.Fatalf("no inference call from %s", tc.scope)
			}
			c := calls[0] // the cached call of a usage capture comes first
			got := want{c.Completion, c.CompletionDetail, c.Streamed, c.Usage.Input, c.Usage.Output, c.Usage.Reported}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestCompletionSignals covers the rules an emitter that the table does not
// name still gets: status, an empty finish list, embeddings.
func TestCompletionSignals(t *testing.T) {
	unknown := Scope{Name: "acme-llm-tracer", Version: "1.0.0"}
	chat := func(extra map[string]any) map[string]any {
		m := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 10}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name       string
		scope      Scope
		attrs      map[string]any
		status     ptrace.StatusCode
		completion string
		detail     string
		streamed   bool
	}{
		{"finish reason: complete", unknown, chat(map[string]any{"gen_ai.response.finish_reasons": []any{"stop"}}), ptrace.StatusCodeUnset, CompletionComplete, "", false},
		{"status ERROR wins over a finish reason", unknown, chat(map[string]any{"gen_ai.response.finish_reasons": []any{"stop"}}), ptrace.StatusCodeError, CompletionError, DetailStatusError, false},
		{"empty finish list: stopped", unknown, chat(map[string]any{"gen_ai.response.finish_reasons": []any{}}), ptrace.StatusCodeOk, CompletionStopped, DetailEmptyFinish, false},
		{"no signal from an unknown emitter: unknown", unknown, chat(nil), ptrace.StatusCodeUnset, CompletionUnknown, "", false},
		{"unknown emitter, streamed, no usage: said", unknown,
			map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.request.stream": true},
			ptrace.StatusCodeUnset, CompletionUnknown, DetailNoStreamUsageAny, true},
		{"unknown emitter, streamed Anthropic output 1: output alone is no signal", unknown,
			map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-sonnet-4-5",
				"gen_ai.request.stream": true, "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 1},
			ptrace.StatusCodeUnset, CompletionUnknown, "", true},
		{"embeddings with usage: complete", unknown,
			map[string]any{"gen_ai.operation.name": "embeddings", "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 10},
			ptrace.StatusCodeUnset, CompletionComplete, "", false},
		{"OpenInference finish reason string", Scope{Name: "@arizeai/openinference-instrumentation-openai"},
			map[string]any{"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o", "llm.finish_reason": "stop", "llm.token_count.prompt": 5},
			ptrace.StatusCodeOk, CompletionComplete, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := mkSpan(t, "chat", tc.attrs, false)
			s.Status().SetCode(tc.status)
			checkReference(t, s, tc.scope, nil)
			c, kind, err := Extract(s, tc.scope, nil)
			if err != nil || kind != Inference {
				t.Fatalf("kind %v err %v", kind, err)
			}
			if c.Completion != tc.completion || c.CompletionDetail != tc.detail || c.Streamed != tc.streamed {
				t.Errorf("got (%q, %q, %v), want (%q, %q, %v)", c.Completion, c.CompletionDetail, c.Streamed, tc.completion, tc.detail, tc.streamed)
			}
		})
	}
}

// TestInclusiveUnverified: a cached call on an exclusive-counting API from an
// emitter no rule names is read as inclusive but marked unverified.
func TestInclusiveUnverified(t *testing.T) {
	unknown := Scope{Name: "acme-llm-tracer", Version: "1.0.0"}
	attrs := func(provider string, cacheRead int64) map[string]any {
		return map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": "m",
			"gen_ai.usage.input_tokens": 5200, "gen_ai.usage.output_tokens": 800, "gen_ai.usage.cache_read.input_tokens": cacheRead}
	}
	configured, err := NewConventions(Rule{ScopePrefix: "acme-llm-tracer", Provider: "anthropic", Input: Inclusive})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		scope    Scope
		conv     *Conventions
		attrs    map[string]any
		want     string
		wantIn   int64
		provider string
	}{
		{"unknown emitter, Anthropic, cache", unknown, nil, attrs("anthropic", 4000), ConvInclusiveUnverified, 5200, "anthropic"},
		{"unknown emitter, Bedrock, cache", unknown, nil, attrs("aws.bedrock", 4000), ConvInclusiveUnverified, 5200, "aws.bedrock"},
		{"unknown emitter, Anthropic, no cache: both readings agree", unknown, nil, attrs("anthropic", 0), ConvInclusive, 5200, "anthropic"},
		{"unknown emitter, OpenAI (inclusive API), cache", unknown, nil, attrs("openai", 4000), ConvInclusive, 5200, "openai"},
		{"configured emitter", unknown, configured, attrs("anthropic", 4000), ConvInclusive, 5200, "anthropic"},
		{"built-in inclusive emitter", Scope{Name: "@arizeai/openinference-instrumentation-anthropic"}, nil, attrs("anthropic", 4000), ConvInclusive, 5200, "anthropic"},
		{"built-in exclusive emitter", Scope{Name: "@traceloop/instrumentation-anthropic", Version: "0.27.0"}, nil, attrs("anthropic", 4000), ConvExclusive, 9200, "anthropic"},
		{"impossible counts are still detected", unknown, nil, attrs("anthropic", 6000), ConvExclusiveDetected, 11200, "anthropic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			span := mkSpan(t, "chat", tc.attrs, false)
			checkReference(t, span, tc.scope, tc.conv)
			c, _, err := Extract(span, tc.scope, tc.conv)
			if err != nil {
				t.Fatal(err)
			}
			if c.TokenConvention != tc.want || c.Usage.Input != tc.wantIn || c.Provider != tc.provider {
				t.Errorf("got %s input %d provider %s, want %s input %d provider %s", c.TokenConvention, c.Usage.Input, c.Provider, tc.want, tc.wantIn, tc.provider)
			}
		})
	}
}
