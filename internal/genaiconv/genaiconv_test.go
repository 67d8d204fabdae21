package genaiconv

import (
	"errors"
	"sort"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// mkSpan builds a span whose attributes are inserted in sorted key order, or in
// reverse order when reverse is set, so that order independence can be checked.
func mkSpan(t testing.TB, name string, attrs map[string]any, reverse bool) ptrace.Span {
	t.Helper()
	s := ptrace.NewSpan()
	s.SetName(name)
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if reverse {
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
	}
	m := s.Attributes()
	for _, k := range keys {
		if err := m.PutEmpty(k).FromRaw(attrs[k]); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	return s
}

type extractCase struct {
	name  string
	span  string
	scope Scope
	conv  *Conventions
	attrs map[string]any
	kind  Kind
	call  Call
	err   string // expected *MalformedError text
}

func usage(in, out, cr, cw, r int64) Usage {
	return Usage{Input: in, Output: out, CacheRead: cr, CacheWrite: cw, Reasoning: r, Reported: true}
}

func runCases(t *testing.T, cases []extractCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, reverse := range []bool{false, true} {
				span := mkSpan(t, tc.span, tc.attrs, reverse)
				checkReference(t, span, tc.scope, tc.conv)
				call, kind, err := Extract(span, tc.scope, tc.conv)
				if tc.err != "" {
					var me *MalformedError
					if !errors.As(err, &me) || err.Error() != tc.err {
						t.Fatalf("reverse=%v: err = %v, want MalformedError %q", reverse, err, tc.err)
					}
					// The call is still named (to be recorded as invalid),
					// without usage, with the reason.
					if kind != Inference || call.Usage != (Usage{}) || call.Invalid != tc.err || (tc.call != (Call{}) && call != tc.call) {
						t.Fatalf("reverse=%v: on error got kind %v call %+v", reverse, kind, call)
					}
					continue
				}
				if err != nil {
					t.Fatalf("reverse=%v: unexpected error %v", reverse, err)
				}
				if kind != tc.kind {
					t.Fatalf("reverse=%v: kind = %v, want %v", reverse, kind, tc.kind)
				}
				if tc.call.Completion == "" {
					// Completion has its own tests (completion_test.go);
					// these cases are about what the attributes say.
					call.Completion, call.CompletionDetail, call.Streamed = "", "", false
				}
				if call != tc.call {
					t.Fatalf("reverse=%v:\n got %+v\nwant %+v", reverse, call, tc.call)
				}
			}
		})
	}
}

func TestExtractSemconv(t *testing.T) {
	runCases(t, []extractCase{{
		name: "E1 v1.41 OpenAI chat",
		span: "chat gpt-4",
		attrs: map[string]any{
			"gen_ai.provider.name": "openai", "gen_ai.operation.name": "chat",
			"gen_ai.request.model": "gpt-4", "gen_ai.request.max_tokens": 200, "gen_ai.request.top_p": 1.0,
			"gen_ai.response.id": "chatcmpl-9J3uIL87gldCFtiIbyaOvTeYBRA3l", "gen_ai.response.model": "gpt-4-0613",
			"gen_ai.usage.input_tokens": 52, "gen_ai.usage.output_tokens": 47,
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4", ResponseModel: "gpt-4-0613",
			Usage: usage(52, 47, 0, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "v1.26 deprecated names, no operation",
		span: "openai.chat",
		attrs: map[string]any{
			"gen_ai.system": "openai", "gen_ai.request.model": "gpt-3.5-turbo",
			"gen_ai.usage.prompt_tokens": 30, "gen_ai.usage.completion_tokens": 12,
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-3.5-turbo",
			Usage: usage(30, 12, 0, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "GenAI repo names win over older spellings",
		span: "chat claude-sonnet-4-5",
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.system": "ignored",
			"gen_ai.request.model":      "claude-sonnet-4-5",
			"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.prompt_tokens": 1,
			"gen_ai.usage.output_tokens": 200, "gen_ai.usage.completion_tokens": 2,
			"gen_ai.usage.cache_read.input_tokens": 300, "gen_ai.usage.cache_read_input_tokens": 3,
			"gen_ai.usage.cache_write.input_tokens": 100, "gen_ai.usage.cache_creation.input_tokens": 4,
			"gen_ai.usage.reasoning.output_tokens": 50, "gen_ai.usage.reasoning_tokens": 5,
		},
		kind: Inference,
		// No scope names the emitter: a cached Anthropic call read as inclusive
		// is a guess (TestInclusiveUnverified).
		call: Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-sonnet-4-5",
			Usage: usage(1000, 200, 300, 100, 50), TokenConvention: ConvInclusiveUnverified, OutputConvention: ConvInclusive},
	}, {
		name: "v1.40 cache_creation name and deprecated az.ai system",
		span: "chat gpt-4o",
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.system": "az.ai.openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 10,
			"gen_ai.usage.cache_creation.input_tokens": 120,
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "azure.ai.openai", RequestModel: "gpt-4o",
			Usage: usage(500, 10, 0, 120, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "E2 AI SDK v7 chat span with cache (inclusive)",
		span: "chat gpt-4",
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4",
			"gen_ai.response.model": "response-model", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 50,
			"gen_ai.usage.cache_read.input_tokens": 20, "gen_ai.usage.cache_creation.input_tokens": 10,
			"gen_ai.agent.name": "support-bot",
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4", ResponseModel: "response-model",
			Usage: usage(100, 50, 20, 10, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive,
			Feature: "support-bot"},
	}, {
		name:  "E2 AI SDK v7 invoke_agent root repeats usage",
		span:  "invoke_agent gpt-4",
		attrs: map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4", "gen_ai.usage.input_tokens": 100},
		kind:  Aggregate,
	}, {
		name:  "invoke_workflow",
		span:  "invoke_workflow w",
		attrs: map[string]any{"gen_ai.operation.name": "invoke_workflow", "gen_ai.usage.input_tokens": 100},
		kind:  Aggregate,
	}, {
		name:  "agent_step",
		span:  "step",
		attrs: map[string]any{"gen_ai.operation.name": "agent_step", "gen_ai.request.model": "m", "gen_ai.usage.output_tokens": 7},
		kind:  Aggregate,
	}, {
		name:  "execute_tool is not a call",
		span:  "execute_tool get_weather",
		attrs: map[string]any{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
		kind:  Aggregate,
	}, {
		name:  "unknown operation is not metered",
		span:  "rerank m",
		attrs: map[string]any{"gen_ai.operation.name": "rerank", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 5},
		kind:  NotGenAI,
	}, {
		name:  "GenAI attributes without operation or model",
		span:  "something",
		attrs: map[string]any{"gen_ai.system": "openai"},
		kind:  NotGenAI,
	}, {
		name: "chat without model is still a call (flagged downstream, never dropped)",
		span: "chat",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
			"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 1},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", Usage: usage(5, 1, 0, 0, 0),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "call without usage",
		span:  "chat gpt-4o",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"},
		kind:  Inference,
		call:  Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o"},
	}, {
		name: "provider from server.address when none is named",
		span: "chat gpt-4o",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
			"server.address": "api.openai.com", "gen_ai.usage.input_tokens": 3},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", Usage: usage(3, 0, 0, 0, 0),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "Sentry alias spellings",
		span: "chat m",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
			"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 40,
			"gen_ai.usage.input_tokens.cached": 30, "gen_ai.usage.input_tokens.cache_write": 20,
			"gen_ai.usage.output_tokens.reasoning": 10},
		kind: Inference,
		call: Call{Operation: "chat", RequestModel: "m", Usage: usage(100, 40, 30, 20, 10),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "integral double and numeric string counts",
		span: "chat m",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
			"gen_ai.usage.input_tokens": 12.0, "gen_ai.usage.output_tokens": "7"},
		kind: Inference,
		call: Call{Operation: "chat", RequestModel: "m", Usage: usage(12, 7, 0, 0, 0),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}})
}

func TestExtractMalformed(t *testing.T) {
	runCases(t, []extractCase{{
		name: "negative",
		span: "chat m",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "m",
			"gen_ai.usage.input_tokens": -1, "gen_ai.usage.output_tokens": 5, "gen_ai.usage.cost": 0.5},
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "m",
			Invalid: "gen_ai.usage.input_tokens: token count must be >= 0, got -1"},
		err: "gen_ai.usage.input_tokens: token count must be >= 0, got -1",
	}, {
		name:  "non-numeric",
		span:  "chat m",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.output_tokens": "many"},
		err:   `gen_ai.usage.output_tokens: token count must be an integer, got "many"`,
	}, {
		name:  "fractional",
		span:  "chat m",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.output_tokens": 1.5},
		err:   "gen_ai.usage.output_tokens: token count must be an integer, got 1.5",
	}, {
		name: "a malformed lower-ranked alias is reported whatever the attribute order",
		span: "chat m",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
			"gen_ai.usage.input_tokens": 10, "gen_ai.usage.prompt_tokens": "x"},
		err: `gen_ai.usage.prompt_tokens: token count must be an integer, got "x"`,
	}, {
		name:  "malformed usage on an aggregate span is not an error (never metered)",
		span:  "invoke_agent a",
		attrs: map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": -5},
		kind:  Aggregate,
	}, {
		name: "overflow when adding cache",
		span: "chat m",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m",
			"gen_ai.usage.input_tokens": int64(1) << 62, "gen_ai.usage.cache_read.input_tokens": int64(1) << 62,
			"gen_ai.usage.cache_write.input_tokens": int64(1) << 62},
		err: "cache tokens: token counts overflow int64",
	}})
}

func TestExtractOpenLLMetry(t *testing.T) {
	runCases(t, []extractCase{{
		name:  "E6 anthropic.chat, cache included in input (creation span)",
		span:  "anthropic.chat",
		scope: Scope{Name: "opentelemetry.instrumentation.anthropic", Version: "0.47.0"},
		attrs: map[string]any{
			"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-sonnet-20240620",
			"gen_ai.response.model": "claude-3-5-sonnet-20240620", "gen_ai.response.id": "msg_01TPXhkPo8jy6yQMrMhjpiAE",
			"gen_ai.usage.input_tokens": 1167, "gen_ai.usage.output_tokens": 17, "gen_ai.usage.total_tokens": 1184,
			"gen_ai.usage.cache_creation.input_tokens": 1150, "gen_ai.usage.cache_read.input_tokens": 0,
			"traceloop.workflow.name": "pirate_joke_generator", "traceloop.entity.name": "anthropic.chat",
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-3-5-sonnet-20240620",
			ResponseModel: "claude-3-5-sonnet-20240620", Usage: usage(1167, 17, 0, 1150, 0),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive, Feature: "pirate_joke_generator"},
	}, {
		name:  "E6 read span: same total, cache read",
		span:  "anthropic.chat",
		scope: Scope{Name: "opentelemetry.instrumentation.anthropic"},
		attrs: map[string]any{
			"gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-sonnet-20240620",
			"gen_ai.usage.input_tokens": 1167, "gen_ai.usage.output_tokens": 20,
			"gen_ai.usage.cache_creation.input_tokens": 0, "gen_ai.usage.cache_read.input_tokens": 1150,
			"traceloop.entity.name": "joke_step",
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-3-5-sonnet-20240620",
			Usage: usage(1167, 20, 1150, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive,
			Feature: "joke_step"},
	}, {
		name: "legacy llm.* names, operation from llm.request.type",
		span: "openai.completion",
		attrs: map[string]any{
			"llm.vendor": "OpenAI", "llm.request.type": "completion", "llm.request.model": "gpt-3.5-turbo-instruct",
			"llm.response.model": "gpt-3.5-turbo-instruct", "llm.usage.prompt_tokens": 9,
			"llm.usage.completion_tokens": 16, "llm.usage.total_tokens": 25, "llm.usage.reasoning_tokens": 0,
		},
		kind: Inference,
		call: Call{Operation: "text_completion", Provider: "openai", RequestModel: "gpt-3.5-turbo-instruct",
			ResponseModel: "gpt-3.5-turbo-instruct", Usage: usage(9, 16, 0, 0, 0),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "pre-0.5.0 underscore cache names and gen_ai.usage.reasoning_tokens",
		span: "openai.chat",
		attrs: map[string]any{
			"gen_ai.system": "openai", "gen_ai.request.model": "o3-mini",
			"gen_ai.usage.prompt_tokens": 2000, "gen_ai.usage.completion_tokens": 900,
			"gen_ai.usage.cache_read_input_tokens": 1024, "gen_ai.usage.reasoning_tokens": 640,
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "o3-mini", Usage: usage(2000, 900, 1024, 0, 640),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "embeddings span name",
		span:  "openai.embeddings",
		attrs: map[string]any{"gen_ai.system": "openai", "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.prompt_tokens": 8},
		kind:  Inference,
		call: Call{Operation: "embeddings", Provider: "openai", RequestModel: "text-embedding-3-small",
			Usage: usage(8, 0, 0, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "traceloop workflow decorator span is never metered",
		span:  "pirate_joke_generator.workflow",
		attrs: map[string]any{"traceloop.span.kind": "workflow", "traceloop.workflow.name": "x", "gen_ai.usage.input_tokens": 5, "gen_ai.request.model": "m"},
		kind:  Aggregate,
	}, {
		name:  "traceloop task span without GenAI attributes",
		span:  "step.task",
		attrs: map[string]any{"traceloop.span.kind": "task", "traceloop.entity.name": "step"},
		kind:  NotGenAI,
	}})
}

func TestExtractOpenInference(t *testing.T) {
	runCases(t, []extractCase{{
		name:  "E3 Anthropic, cache folded into the prompt count (inclusive)",
		span:  "Messages",
		scope: Scope{Name: "openinference.instrumentation.anthropic", Version: "0.1.20"},
		attrs: map[string]any{
			"openinference.span.kind": "LLM", "llm.provider": "anthropic", "llm.system": "anthropic",
			"llm.model_name":         "claude-3-5-haiku-20241022",
			"llm.token_count.prompt": 2255, "llm.token_count.completion": 5, "llm.token_count.total": 2260,
			"llm.token_count.prompt_details.cache_read": 512, "llm.token_count.prompt_details.cache_write": 1733,
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "anthropic", ResponseModel: "claude-3-5-haiku-20241022",
			Usage: usage(2255, 5, 512, 1733, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "reasoning, cost, Azure host",
		span: "ChatCompletion",
		attrs: map[string]any{
			"openinference.span.kind": "LLM", "llm.provider": "azure", "llm.system": "openai",
			"llm.model_name": "o3-mini-2025-01-31", "llm.token_count.prompt": 100, "llm.token_count.completion": 300,
			"llm.token_count.completion_details.reasoning": 256, "llm.cost.total": 0.00143,
			"llm.cost.prompt": 0.00011, "metadata": `{"tenant_id":"t-1"}`,
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "azure.ai.openai", ResponseModel: "o3-mini-2025-01-31",
			Usage: usage(100, 300, 0, 0, 256), ReportedCost: "0.00143",
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "EMBEDDING",
		span: "CreateEmbeddings",
		attrs: map[string]any{"openinference.span.kind": "EMBEDDING", "embedding.model_name": "text-embedding-3-large",
			"llm.system": "openai", "llm.token_count.prompt": 900, "llm.token_count.total": 900},
		kind: Inference,
		call: Call{Operation: "embeddings", Provider: "openai", ResponseModel: "text-embedding-3-large",
			Usage: usage(900, 0, 0, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "vertexai and mistralai llm.system values",
		span: "GenerateContent",
		attrs: map[string]any{"openinference.span.kind": "LLM", "llm.system": "vertexai", "llm.model_name": "gemini-2.5-flash",
			"llm.token_count.prompt": 10, "llm.token_count.completion": 20},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "gcp.vertex_ai", ResponseModel: "gemini-2.5-flash",
			Usage: usage(10, 20, 0, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "AGENT repeats usage",
		span:  "Agent",
		attrs: map[string]any{"openinference.span.kind": "AGENT", "llm.token_count.prompt": 2255, "llm.model_name": "m"},
		kind:  Aggregate,
	}, {
		name:  "CHAIN repeats usage",
		span:  "RunnableSequence",
		attrs: map[string]any{"openinference.span.kind": "CHAIN", "llm.token_count.prompt": 2255},
		kind:  Aggregate,
	}, {
		name:  "TOOL is not a call",
		span:  "search",
		attrs: map[string]any{"openinference.span.kind": "TOOL", "llm.model_name": "m"},
		kind:  NotGenAI,
	}, {
		name:  "RETRIEVER is not a call",
		span:  "retrieve",
		attrs: map[string]any{"openinference.span.kind": "RETRIEVER", "embedding.model_name": "text-embedding-3-small"},
		kind:  NotGenAI,
	}})
}

func TestExtractVercelAI(t *testing.T) {
	runCases(t, []extractCase{{
		name:  "legacy v6 doGenerate, provider id openai.responses",
		span:  "ai.generateText.doGenerate",
		scope: Scope{Name: "ai"},
		attrs: map[string]any{
			"ai.operationId": "ai.generateText.doGenerate", "ai.telemetry.functionId": "reasoning",
			"ai.model.provider": "openai.responses", "ai.model.id": "o4-mini", "ai.response.model": "o4-mini-2025-04-16",
			"ai.usage.inputTokens": 3300, "ai.usage.outputTokens": 2600,
			"ai.usage.inputTokenDetails.noCacheTokens": 1252, "ai.usage.inputTokenDetails.cacheReadTokens": 2048,
			"ai.usage.outputTokenDetails.reasoningTokens": 2048, "ai.usage.reasoningTokens": 2048,
			"ai.usage.cachedInputTokens": 2048, "ai.telemetry.metadata.tenant_id": "tenant-e",
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "o4-mini", ResponseModel: "o4-mini-2025-04-16",
			Usage: usage(3300, 2600, 2048, 0, 2048), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive,
			Feature: "reasoning"},
	}, {
		name:  "legacy wrapper ai.generateText repeats its child",
		span:  "ai.generateText",
		attrs: map[string]any{"ai.operationId": "ai.generateText", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o", "ai.usage.inputTokens": 1300},
		kind:  Wrapper,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", Usage: Usage{Input: 1300, Reported: true},
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "ai.streamText wrapper recognized by span name alone",
		span:  "ai.streamText",
		attrs: map[string]any{"ai.model.provider": "anthropic.messages", "ai.model.id": "claude-sonnet-4-5", "ai.usage.promptTokens": 10},
		kind:  Wrapper,
		call: Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-sonnet-4-5", Usage: Usage{Input: 10, Reported: true},
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "a stopped ai.streamText: the wrapper alone, no usage",
		span:  "ai.streamText",
		attrs: map[string]any{"ai.operationId": "ai.streamText", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o-mini"},
		kind:  Wrapper,
		call:  Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o-mini"},
	}, {
		name:  "a wrapper's malformed usage reads as none (it is not metered unless its child never comes)",
		span:  "ai.generateObject",
		attrs: map[string]any{"ai.operationId": "ai.generateObject", "ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o", "ai.usage.promptTokens": -1},
		kind:  Wrapper,
		call:  Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o"},
	}, {
		name:  "v5 doStream with promptTokens, Anthropic cache write, Anthropic provider id",
		span:  "ai.streamText.doStream",
		scope: Scope{Name: "ai"},
		attrs: map[string]any{
			"ai.model.provider": "anthropic.messages", "ai.model.id": "claude-sonnet-4-5",
			"ai.usage.promptTokens": 5000, "ai.usage.completionTokens": 300,
			"ai.usage.inputTokenDetails.cacheWriteTokens": 4000, "gen_ai.system": "anthropic.messages",
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-sonnet-4-5",
			Usage: usage(5000, 300, 0, 4000, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "embedMany.doEmbed with ai.usage.tokens, Vertex provider id",
		span: "ai.embedMany.doEmbed",
		attrs: map[string]any{"ai.operationId": "ai.embedMany.doEmbed", "ai.model.provider": "google.vertex.embedding",
			"ai.model.id": "text-embedding-005", "ai.usage.tokens": 64},
		kind: Inference,
		call: Call{Operation: "embeddings", Provider: "gcp.vertex_ai", RequestModel: "text-embedding-005",
			Usage: usage(64, 0, 0, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "ai.embed wrapper",
		span:  "ai.embed",
		attrs: map[string]any{"ai.operationId": "ai.embed", "ai.model.provider": "openai.embedding", "ai.model.id": "text-embedding-3-small", "ai.usage.tokens": 8},
		kind:  Wrapper,
		call: Call{Operation: "embeddings", Provider: "openai", RequestModel: "text-embedding-3-small", Usage: Usage{Input: 8, Reported: true},
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "ai.toolCall is not a call",
		span:  "ai.toolCall",
		attrs: map[string]any{"ai.operationId": "ai.toolCall", "ai.toolCall.name": "weather"},
		kind:  NotGenAI,
	}, {
		name: "Gemini provider id and generative-ai",
		span: "ai.generateObject.doGenerate",
		attrs: map[string]any{"ai.model.provider": "google.generative-ai", "ai.model.id": "gemini-2.5-pro",
			"ai.usage.inputTokens": 10, "ai.usage.outputTokens": 120, "ai.usage.reasoningTokens": 100},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "gcp.gemini", RequestModel: "gemini-2.5-pro",
			Usage: usage(10, 120, 0, 0, 100), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}})
}

// TestExtractAudioAnd1hCache reads the audio parts of input and output and
// the 1-hour part of the cache writes under every spelling the meter knows,
// and the non-standard spellings of cache and reasoning counts.
func TestExtractAudioAnd1hCache(t *testing.T) {
	base := func(extra map[string]any) map[string]any {
		m := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-audio-preview",
			"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 500}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	call := func(u Usage) Call {
		u.Input, u.Output, u.Reported = 1000, 500, true
		return Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o-audio-preview", Usage: u,
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive}
	}
	runCases(t, []extractCase{{
		name:  "semconv per-modality audio counts",
		span:  "chat gpt-4o-audio-preview",
		attrs: base(map[string]any{"gen_ai.usage.audio.input_tokens": 300, "gen_ai.usage.audio.output_tokens": 200, "gen_ai.usage.text.input_tokens": 700}),
		kind:  Inference,
		call:  call(Usage{InputAudio: 300, OutputAudio: 200}),
	}, {
		name: "per-modality name wins over a flattened OpenAI detail, whatever the order",
		span: "chat gpt-4o-audio-preview",
		attrs: base(map[string]any{"gen_ai.usage.audio.input_tokens": 300, "gen_ai.usage.prompt_tokens_details.audio_tokens": 9,
			"gen_ai.usage.completion_tokens_details.audio_tokens": 200}),
		kind: Inference,
		call: call(Usage{InputAudio: 300, OutputAudio: 200}),
	}, {
		name:  "OpenInference prompt_details.audio and completion_details.audio",
		span:  "ChatCompletion",
		attrs: base(map[string]any{"llm.token_count.prompt_details.audio": 40, "llm.token_count.completion_details.audio": 60}),
		kind:  Inference,
		call:  call(Usage{InputAudio: 40, OutputAudio: 60}),
	}, {
		name:  "OpenAI Responses/Realtime input_tokens_details.audio_tokens, flattened",
		span:  "chat gpt-4o-audio-preview",
		attrs: base(map[string]any{"gen_ai.usage.input_tokens_details.audio_tokens": 11, "gen_ai.usage.output_tokens_details.audio_tokens": 22}),
		kind:  Inference,
		call:  call(Usage{InputAudio: 11, OutputAudio: 22}),
	}, {
		name: "Anthropic 1h cache writes and non-standard cache spellings",
		span: "chat gpt-4o-audio-preview",
		attrs: base(map[string]any{"gen_ai.usage.cache_read_input_tokens": 100, "gen_ai.usage.cache_write_input_tokens": 300,
			"gen_ai.usage.cache_creation.ephemeral_1h_input_tokens": 200, "gen_ai.usage.reasoning_output_tokens": 50}),
		kind: Inference,
		call: call(Usage{CacheRead: 100, CacheWrite: 300, CacheWrite1h: 200, Reasoning: 50}),
	}, {
		name: "@anthropic-ai/sdk tracing: anthropic.usage.cache_creation.ephemeral_1h_input_tokens",
		span: "chat gpt-4o-audio-preview",
		attrs: base(map[string]any{"gen_ai.usage.cache_write.input_tokens": 300,
			"anthropic.usage.cache_creation.ephemeral_1h_input_tokens": 200, "anthropic.usage.cache_creation.ephemeral_5m_input_tokens": 100}),
		kind: Inference,
		call: call(Usage{CacheWrite: 300, CacheWrite1h: 200}),
	}, {
		name:  "Vercel AI SDK: the 1h split only in ai.response.providerMetadata",
		span:  "ai.generateText.doGenerate",
		scope: Scope{Name: "ai", Version: "6.0.326"},
		attrs: map[string]any{"ai.operationId": "ai.generateText.doGenerate", "ai.model.provider": "anthropic.messages", "ai.model.id": "claude-sonnet-4-5",
			"ai.usage.inputTokens": 7000, "ai.usage.outputTokens": 600, "ai.usage.inputTokenDetails.cacheWriteTokens": 2000,
			"ai.response.providerMetadata": `{"anthropic":{"usage":{"input_tokens":3000,"cache_creation_input_tokens":2000,` +
				`"cache_creation":{"ephemeral_5m_input_tokens":500,"ephemeral_1h_input_tokens": 1500}},"cacheCreationInputTokens":2000}}`},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-sonnet-4-5",
			Usage:           Usage{Input: 7000, Output: 600, CacheWrite: 2000, CacheWrite1h: 1500, Reported: true},
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "an audio count above its total is malformed (it is a part of it)",
		span:  "chat gpt-4o-audio-preview",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.usage.audio.output_tokens": 7},
		kind:  Inference,
		err:   "gen_ai.usage.audio.output_tokens: 7 is more than the 0 output tokens it is a part of",
	}, {
		name:  "input audio above input",
		span:  "chat gpt-4o-audio-preview",
		attrs: base(map[string]any{"llm.token_count.prompt_details.audio": 1001}),
		kind:  Inference,
		err:   "llm.token_count.prompt_details.audio: 1001 is more than the 1000 input tokens it is a part of",
	}, {
		name:  "1h cache writes above the cache writes",
		span:  "chat gpt-4o-audio-preview",
		attrs: base(map[string]any{"gen_ai.usage.cache_creation.input_tokens": 10, "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens": 11}),
		kind:  Inference,
		err:   "gen_ai.usage.cache_creation.ephemeral_1h_input_tokens: 11 is more than the 10 cache write tokens it is a part of",
	}, {
		name:  "a malformed audio count is malformed usage",
		span:  "chat gpt-4o-audio-preview",
		attrs: base(map[string]any{"llm.token_count.prompt_details.audio": -3}),
		kind:  Inference,
		err:   "llm.token_count.prompt_details.audio: token count must be >= 0, got -3",
	}})
}

func TestExtractOtherDialects(t *testing.T) {
	openlit := Scope{Name: "openlit.otel.tracing", Version: "1.35.0"}
	strands := Scope{Name: "strands.telemetry.tracer", Version: "1.10.0"}
	runCases(t, []extractCase{{
		name:  "OpenLIT Anthropic: raw input excludes cache (exclusive)",
		span:  "chat claude-3-5-haiku-20241022",
		scope: openlit,
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.system": "anthropic",
			"gen_ai.request.model": "claude-3-5-haiku-20241022", "gen_ai.response.model": "claude-3-5-haiku-20241022",
			"gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 5,
			"gen_ai.usage.cache_read.input_tokens": 512, "gen_ai.usage.cache_creation.input_tokens": 1733,
			"gen_ai.usage.cost": 0.00281, "gen_ai.client.token.usage": 15, "telemetry.sdk.name": "openlit",
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-3-5-haiku-20241022",
			ResponseModel: "claude-3-5-haiku-20241022", Usage: usage(2255, 5, 512, 1733, 0), ReportedCost: "0.00281",
			TokenConvention: ConvExclusive, OutputConvention: ConvInclusive},
	}, {
		name: "OpenLIT Anthropic without a scope: telemetry.sdk.name reveals the emitter",
		span: "chat claude-3-5-haiku-20241022",
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-3-5-haiku-20241022",
			"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 5,
			"gen_ai.usage.cache_read.input_tokens": 512, "telemetry.sdk.name": "openlit",
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-3-5-haiku-20241022",
			Usage: usage(1512, 5, 512, 0, 0), TokenConvention: ConvExclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "OpenLIT OpenAI stays inclusive; OpenLIT cache names",
		span:  "chat gpt-4o",
		scope: openlit,
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.usage.input_tokens": 3000, "gen_ai.usage.output_tokens": 100,
			"gen_ai.usage.prompt_tokens_details.cached_tokens":        2048,
			"gen_ai.usage.completion_tokens_details.reasoning_tokens": 0, "gen_ai.usage.cost": "0.0081",
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", Usage: usage(3000, 100, 2048, 0, 0),
			ReportedCost: "0.0081", TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "older OpenLIT: gen_ai.type instead of an operation, Bedrock exclusive without a scope",
		span: "bedrock.converse",
		attrs: map[string]any{"telemetry.sdk.name": "openlit", "gen_ai.system": "aws.bedrock", "gen_ai.type": "chat",
			"gen_ai.request.model": "amazon.titan-text-express-v1", "gen_ai.usage.prompt_tokens": 30,
			"gen_ai.usage.completion_tokens": 9, "gen_ai.usage.cache_read_input_tokens": 20, "gen_ai.usage.cost": 0.5},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "aws.bedrock", RequestModel: "amazon.titan-text-express-v1",
			Usage: usage(50, 9, 20, 0, 0), ReportedCost: "0.5", TokenConvention: ConvExclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "older OpenLIT framework span",
		span:  "langchain.retrieve",
		attrs: map[string]any{"telemetry.sdk.name": "openlit", "gen_ai.system": "langchain", "gen_ai.type": "framework"},
		kind:  Aggregate,
	}, {
		name:  "Strands with Bedrock: raw Converse input, underscore cache names, framework provider",
		span:  "chat",
		scope: strands,
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.system": "strands-agents", "gen_ai.provider.name": "strands-agents",
			"gen_ai.request.model":       "us.anthropic.claude-sonnet-4-20250514-v1:0",
			"gen_ai.usage.prompt_tokens": 10, "gen_ai.usage.input_tokens": 10,
			"gen_ai.usage.completion_tokens": 5, "gen_ai.usage.output_tokens": 5, "gen_ai.usage.total_tokens": 15,
			"gen_ai.usage.cache_read_input_tokens": 512, "gen_ai.usage.cache_write_input_tokens": 1733,
			"gen_ai.agent.name": "Strands Agents",
		},
		kind: Inference,
		call: Call{Operation: "chat", RequestModel: "us.anthropic.claude-sonnet-4-20250514-v1:0",
			Usage: usage(2255, 5, 512, 1733, 0), TokenConvention: ConvExclusive, OutputConvention: ConvInclusive,
			Feature: "Strands Agents"},
	}, {
		name: "Strands without a scope: the framework provider name reveals the emitter",
		span: "chat",
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.system": "strands-agents", "gen_ai.request.model": "amazon.nova-pro-v1:0",
			"gen_ai.usage.input_tokens": 4000, "gen_ai.usage.output_tokens": 50, "gen_ai.usage.cache_read_input_tokens": 1000,
		},
		kind: Inference,
		call: Call{Operation: "chat", RequestModel: "amazon.nova-pro-v1:0", Usage: usage(5000, 50, 1000, 0, 0),
			TokenConvention: ConvExclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "Strands agent span carries accumulated usage",
		span:  "invoke_agent Strands Agents",
		scope: strands,
		attrs: map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.system": "strands-agents",
			"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 99999},
		kind: Aggregate,
	}, {
		name:  "E4 Pydantic AI model request",
		span:  "chat gpt-4o",
		scope: Scope{Name: "pydantic-ai", Version: "1.0.0"},
		attrs: map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.system": "openai",
			"gen_ai.request.model": "gpt-4o", "server.address": "example.com", "server.port": 8000,
			"gen_ai.response.model": "gpt-4o-2024-11-20", "gen_ai.response.id": "response_id",
			"gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 200,
			"gen_ai.usage.cache_read.input_tokens": 20, "gen_ai.usage.cache_creation.input_tokens": 10,
			"gen_ai.usage.details.reasoning_tokens": 30, "gen_ai.usage.details.cache_read_tokens": 20,
			"gen_ai.usage.details.cache_write_tokens": 10, "gen_ai.usage.details.input_audio_tokens": 10,
			"operation.cost": 0.002225,
		},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-11-20",
			Usage: Usage{Input: 100, Output: 200, CacheRead: 20, CacheWrite: 10, Reasoning: 30, InputAudio: 10, Reported: true}, ReportedCost: "0.002225",
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "E4 Pydantic AI agent run: aggregated usage",
		span: "my_agent run",
		attrs: map[string]any{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "my_agent",
			"gen_ai.aggregated_usage.input_tokens": 103, "gen_ai.aggregated_usage.output_tokens": 12},
		kind: Aggregate,
	}, {
		name:  "aggregated usage alone marks an aggregate",
		span:  "agent run",
		attrs: map[string]any{"gen_ai.request.model": "gpt-4o", "gen_ai.aggregated_usage.input_tokens": 103},
		kind:  Aggregate,
	}, {
		name:  "Spring AI ChatClient framework span",
		span:  "spring_ai chat_client",
		attrs: map[string]any{"gen_ai.operation.name": "framework", "gen_ai.system": "spring_ai", "gen_ai.usage.input_tokens": 40},
		kind:  Aggregate,
	}, {
		name: "Spring AI chat model span, azure-openai",
		span: "chat gpt-4o",
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.system": "azure-openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.response.model": "gpt-4o-2024-08-06", "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 8,
			"gen_ai.usage.total_tokens": 48},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "azure.ai.openai", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06",
			Usage: usage(40, 8, 0, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "Spring AI embedding operation",
		span: "embedding text-embedding-3-small",
		attrs: map[string]any{"gen_ai.operation.name": "embedding", "gen_ai.system": "openai",
			"gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 12},
		kind: Inference,
		call: Call{Operation: "embeddings", Provider: "openai", RequestModel: "text-embedding-3-small",
			Usage: usage(12, 0, 0, 0, 0), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "Semantic Kernel older names",
		span: "chat.completions gpt-4o",
		attrs: map[string]any{"gen_ai.operation.name": "chat.completions", "gen_ai.system": "openai",
			"gen_ai.request.model": "gpt-4o", "gen_ai.response.prompt_tokens": 33, "gen_ai.response.completion_tokens": 11},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", Usage: usage(33, 11, 0, 0, 0),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name:  "E5 Langfuse generation: usage_details and cost_details JSON",
		span:  "my-generation",
		scope: Scope{Name: "langfuse-sdk", Version: "2.60.3"},
		attrs: map[string]any{
			"langfuse.observation.type": "generation", "langfuse.observation.model.name": "gpt-4o",
			"langfuse.observation.usage_details": `{"input_tokens": 123, "output_tokens": 456}`,
			"langfuse.observation.cost_details":  `{"input_tokens": 0.0001, "output_tokens": 0.002}`,
			"langfuse.observation.prompt.name":   "my-prompt", "user.id": "my-user", "session.id": "my-session",
			"langfuse.trace.metadata.trace-key1": `"value1"`,
		},
		kind: Inference,
		call: Call{Operation: "chat", ResponseModel: "gpt-4o", Usage: usage(123, 456, 0, 0, 0), ReportedCost: "0.0021",
			TokenConvention: ConvExclusive, OutputConvention: ConvExclusive},
	}, {
		name: "Langfuse disjoint buckets: cache and reasoning are added",
		span: "gen",
		attrs: map[string]any{
			"langfuse.observation.type": "generation", "langfuse.observation.model.name": "claude-sonnet-4-5",
			"langfuse.observation.usage_details": `{"input": 100, "output": 50, "cache_read_input_tokens": 400, "input_cache_creation": 25, "output_reasoning_tokens": 20, "total": 595, "note": "x"}`,
			"langfuse.observation.cost_details":  `{"input": 0.1, "total": 0.25}`,
		},
		kind: Inference,
		call: Call{Operation: "chat", ResponseModel: "claude-sonnet-4-5", Usage: usage(525, 70, 400, 25, 20), ReportedCost: "0.25",
			TokenConvention: ConvExclusive, OutputConvention: ConvExclusive},
	}, {
		name: "Langfuse usage_details malformed",
		span: "gen",
		attrs: map[string]any{"langfuse.observation.type": "generation", "langfuse.observation.model.name": "m",
			"langfuse.observation.usage_details": `{"input": -3}`},
		err: "langfuse.observation.usage_details.input: token count must be >= 0, got -3",
	}, {
		name: "Langfuse usage_details not JSON",
		span: "gen",
		attrs: map[string]any{"langfuse.observation.type": "generation", "langfuse.observation.model.name": "m",
			"langfuse.observation.usage_details": `input=3`},
		err: "langfuse.observation.usage_details: must be a JSON object: invalid character 'i' looking for beginning of value",
	}, {
		name:  "Langfuse span observation is not a call",
		span:  "retrieval",
		attrs: map[string]any{"langfuse.observation.type": "span"},
		kind:  NotGenAI,
	}, {
		name:  "Langfuse agent observation",
		span:  "agent",
		attrs: map[string]any{"langfuse.observation.type": "agent", "langfuse.observation.usage_details": `{"input": 1}`},
		kind:  Aggregate,
	}})
}

// TestTokenSemantics covers the conversions to semconv counts, including the
// detection of impossible inclusive counts and configuration overrides.
func TestTokenSemantics(t *testing.T) {
	anth := func(in, cr, cw int64) map[string]any {
		return map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
			"gen_ai.request.model": "claude-sonnet-4-5", "gen_ai.usage.input_tokens": in, "gen_ai.usage.output_tokens": 5,
			"gen_ai.usage.cache_read.input_tokens": cr, "gen_ai.usage.cache_write.input_tokens": cw}
	}
	call := func(in, cr, cw int64, conv string) Call {
		return Call{Operation: "chat", Provider: "anthropic", RequestModel: "claude-sonnet-4-5",
			Usage: usage(in, 5, cr, cw, 0), TokenConvention: conv, OutputConvention: ConvInclusive}
	}
	gateway, err := NewConventions(
		Rule{ScopePrefix: "my-gateway", Input: Exclusive},
		Rule{ScopePrefix: "openlit", Provider: "anthropic", Input: Inclusive}, // the OpenLIT fix shipped in-house
		Rule{ScopePrefix: "opentelemetry.instrumentation.google_genai", VersionBelow: "0.5", Output: Exclusive},
	)
	if err != nil {
		t.Fatal(err)
	}
	gemini := map[string]any{"gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gemini",
		"gen_ai.request.model": "gemini-2.5-flash", "gen_ai.usage.input_tokens": 100,
		"gen_ai.usage.output_tokens": 80, "gen_ai.usage.reasoning.output_tokens": 40}
	verified := Scope{Name: "openinference.instrumentation.anthropic", Version: "0.1.20"}
	runCases(t, []extractCase{{
		name: "inclusive (semconv): nothing added", span: "chat", scope: verified, attrs: anth(2255, 512, 1733),
		kind: Inference, call: call(2255, 512, 1733, ConvInclusive),
	}, {
		name: "boundary: cache equal to input is possible under the inclusive rule", span: "chat", scope: verified, attrs: anth(600, 400, 200),
		kind: Inference, call: call(600, 400, 200, ConvInclusive),
	}, {
		name: "cache read + write > input: detected exclusive, cache added", span: "chat", attrs: anth(10, 512, 1733),
		kind: Inference, call: call(2255, 512, 1733, ConvExclusiveDetected),
	}, {
		name: "cache read > input: detected", span: "chat", attrs: anth(600, 601, 0),
		kind: Inference, call: call(1201, 601, 0, ConvExclusiveDetected),
	}, {
		name: "configured exclusive emitter", span: "chat", scope: Scope{Name: "my-gateway-otel"}, conv: gateway,
		attrs: anth(1000, 512, 0), kind: Inference, call: call(1512, 512, 0, ConvExclusive),
	}, {
		name: "configuration overrides the built-in OpenLIT rule", span: "chat", scope: Scope{Name: "openlit.otel.tracing"}, conv: gateway,
		attrs: anth(1000, 512, 0), kind: Inference, call: call(1000, 512, 0, ConvInclusive),
	}, {
		name: "configured inclusive still has the detection guard", span: "chat", scope: Scope{Name: "openlit.otel.tracing"}, conv: gateway,
		attrs: anth(10, 512, 0), kind: Inference, call: call(522, 512, 0, ConvExclusiveDetected),
	}, {
		name: "a rule for another provider does not apply", span: "chat", scope: Scope{Name: "openlit.otel.tracing"},
		attrs: map[string]any{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.cache_read.input_tokens": 512},
		kind: Inference,
		call: Call{Operation: "chat", Provider: "openai", RequestModel: "gpt-4o", Usage: usage(1000, 0, 512, 0, 0),
			TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "Gemini-style output without reasoning, by versioned rule", span: "generate_content gemini-2.5-flash",
		scope: Scope{Name: "opentelemetry.instrumentation.google_genai", Version: "0.4b0"}, conv: gateway, attrs: gemini,
		kind: Inference,
		call: Call{Operation: "generate_content", Provider: "gcp.gemini", RequestModel: "gemini-2.5-flash",
			Usage: usage(100, 120, 0, 0, 40), TokenConvention: ConvInclusive, OutputConvention: ConvExclusive},
	}, {
		name: "versioned rule does not apply to a fixed version", span: "generate_content gemini-2.5-flash",
		scope: Scope{Name: "opentelemetry.instrumentation.google_genai", Version: "0.5.0"}, conv: gateway, attrs: gemini,
		kind: Inference,
		call: Call{Operation: "generate_content", Provider: "gcp.gemini", RequestModel: "gemini-2.5-flash",
			Usage: usage(100, 80, 0, 0, 40), TokenConvention: ConvInclusive, OutputConvention: ConvInclusive},
	}, {
		name: "reasoning > output: detected, reasoning added", span: "generate_content gemini-2.5-flash",
		attrs: map[string]any{"gen_ai.operation.name": "generate_content", "gen_ai.provider.name": "gcp.gemini",
			"gen_ai.request.model": "gemini-2.5-flash", "gen_ai.usage.input_tokens": 100,
			"gen_ai.usage.output_tokens": 30, "gen_ai.usage.reasoning.output_tokens": 300},
		kind: Inference,
		call: Call{Operation: "generate_content", Provider: "gcp.gemini", RequestModel: "gemini-2.5-flash",
			Usage: usage(100, 330, 0, 0, 300), TokenConvention: ConvInclusive, OutputConvention: ConvExclusiveDetected},
	}})
}

func TestNewConventionsValidates(t *testing.T) {
	for _, tc := range []struct {
		rule Rule
		want string
	}{
		{Rule{ScopePrefix: "x", Input: "half"}, `token convention rule 0: unknown convention "half" (want "inclusive" or "exclusive")`},
		{Rule{ScopePrefix: "x"}, "token convention rule 0: sets neither input nor output"},
		{Rule{ScopePrefix: "x", Input: Exclusive, VersionBelow: "latest"}, `token convention rule 0: version_below "latest" is not a dotted version`},
	} {
		if _, err := NewConventions(tc.rule); err == nil || err.Error() != tc.want {
			t.Errorf("%+v: err = %v, want %q", tc.rule, err, tc.want)
		}
	}
	if _, err := NewConventions(Rule{Provider: "anthropic", Output: Inclusive}); err != nil {
		t.Errorf("valid rule refused: %v", err)
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"0.4b0", "0.5", -1}, {"0.5.0", "0.5", 0}, {"1.2.10", "1.2.9", 1}, {"v2", "1.9.9", 1}, {"0.47.0", "0.47.1", -1},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestNormalizeProvider(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "openai": "openai", "openai.chat": "openai", "openai.responses": "openai", "openai.embedding": "openai",
		"anthropic.messages": "anthropic", "xai": "x_ai", "xai.chat": "x_ai", "x_ai": "x_ai",
		"az.ai.openai": "azure.ai.openai", "az.ai.inference": "azure.ai.inference", "azure.ai.openai": "azure.ai.openai",
		"vertex_ai": "gcp.vertex_ai", "gemini": "gcp.gemini", "google.vertex.chat": "gcp.vertex_ai",
		"google-vertex.chat": "gcp.vertex_ai", "google.generative-ai": "gcp.gemini", "google": "gcp.gemini",
		"amazon-bedrock": "aws.bedrock", "bedrock": "aws.bedrock", "bedrock_converse": "aws.bedrock", "aws.bedrock": "aws.bedrock",
		"azure-openai": "azure.ai.openai", "azure-openai.chat": "azure.ai.openai", "azure": "azure.ai.inference",
		"mistral": "mistral_ai", "mistral.chat": "mistral_ai", "mistralai": "mistral_ai", "vertexai": "gcp.vertex_ai",
		"strands-agents": "", "spring_ai": "", "OpenAI": "openai", "Langchain": "", "ibm.watsonx.ai": "ibm.watsonx.ai",
		"ollama": "ollama", "oci_genai": "oci_genai", "some.custom": "some.custom", "gcp.gen_ai": "gcp.gen_ai",
	} {
		if got := NormalizeProvider(in); got != want {
			t.Errorf("NormalizeProvider(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"azure": "azure.ai.openai", "google": "gcp.gen_ai", "aws": "aws.bedrock", "openai": "openai"} {
		if got := normalizeProviderFrom(in, subOIProvider); got != want {
			t.Errorf("OpenInference llm.provider %q = %q, want %q", in, got, want)
		}
	}
}

func TestProviderFromHost(t *testing.T) {
	for in, want := range map[string]string{
		"api.openai.com": "openai", "api.anthropic.com": "anthropic", "generativelanguage.googleapis.com": "gcp.gemini",
		"us-central1-aiplatform.googleapis.com": "gcp.vertex_ai", "bedrock-runtime.us-east-1.amazonaws.com": "aws.bedrock",
		"myres.openai.azure.com": "azure.ai.openai", "api.x.ai": "x_ai", "127.0.0.1": "", "litellm.internal": "",
	} {
		if got := providerFromHost(in); got != want {
			t.Errorf("providerFromHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReportedCostText(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{0.1, "0.1"}, {1e-7, "0.0000001"}, {0.002225, "0.002225"}, {int64(2), "2"}, {"0.00123", "0.00123"},
		{"1e-3", ""}, {"abc", ""}, {"-0.1", ""}, {-0.5, ""}, {"", ""}, {"1.", ""}, {".5", ""}, {true, ""},
	} {
		v := pcommon.NewValueEmpty()
		if err := v.FromRaw(tc.v); err != nil {
			t.Fatal(err)
		}
		if got := costText(v); got != tc.want {
			t.Errorf("costText(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
	for in, want := range map[string]string{
		`{"input": 0.0001, "output": 0.002}`: "0.0021",
		`{"total": 0.25, "input": 9}`:        "0.25",
		`{"a": 1e-7, "b": 0.1}`:              "0.1000001",
		`{"a": 0.1, "b": 0.2}`:               "0.3",
		`{"a": -1}`:                          "",
		`{}`:                                 "",
		`nope`:                               "",
		`{"a": "0.1"}`:                       "",
	} {
		if got := langfuseCostTotal(in); got != want {
			t.Errorf("langfuseCostTotal(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestFeature(t *testing.T) {
	base := map[string]any{"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
	for _, tc := range []struct {
		extra map[string]any
		want  string
	}{
		{map[string]any{"gen_ai.agent.name": "a"}, "a"},
		{map[string]any{"gen_ai.agent.name": "a", "traceloop.entity.name": "e"}, "e"},
		{map[string]any{"traceloop.entity.name": "e", "traceloop.workflow.name": "w"}, "w"},
		{map[string]any{"traceloop.workflow.name": "w", "ai.telemetry.functionId": "f"}, "f"},
		{map[string]any{"traceloop.workflow.name": ""}, ""},
	} {
		attrs := map[string]any{}
		for k, v := range base {
			attrs[k] = v
		}
		for k, v := range tc.extra {
			attrs[k] = v
		}
		for _, rev := range []bool{false, true} {
			c, _, err := Extract(mkSpan(t, "chat m", attrs, rev), Scope{}, nil)
			if err != nil || c.Feature != tc.want {
				t.Errorf("%v: feature %q (err %v), want %q", tc.extra, c.Feature, err, tc.want)
			}
		}
	}
}

func TestNotGenAI(t *testing.T) {
	runCases(t, []extractCase{{
		name: "HTTP server span", span: "POST /api/reply",
		attrs: map[string]any{"http.request.method": "POST", "url.path": "/api/reply", "server.address": "api.openai.com",
			"tenant.id": "tenant-a", "operation.cost": 1.5},
		kind: NotGenAI,
	}, {
		name: "no attributes", span: "x", attrs: map[string]any{}, kind: NotGenAI,
	}})
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{NotGenAI: "NotGenAI", Inference: "Inference", Aggregate: "Aggregate", 9: "Kind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
}

// TestExtractWrapperStreamed: a wrapper says whether it streams (the
// processor judges its completion from that when its child never arrives);
// its own completion is left unjudged.
func TestExtractWrapperStreamed(t *testing.T) {
	for name, want := range map[string]bool{"ai.streamText": true, "ai.streamObject": true, "ai.generateText": false, "ai.embedMany": false} {
		call, kind, err := Extract(mkSpan(t, name, map[string]any{"ai.model.provider": "openai.chat", "ai.model.id": "gpt-4o"}, false), Scope{Name: "ai"}, nil)
		if err != nil || kind != Wrapper || call.Streamed != want || call.Completion != "" {
			t.Errorf("%s: kind %v, streamed %v, completion %q, err %v; want Wrapper, streamed %v, no completion", name, kind, call.Streamed, call.Completion, err, want)
		}
	}
}
