package genaiconv

// The reference: Extract as it was before it was made cheap (main 92a4095),
// kept to prove the fast path recognizes exactly what it did. It reads the
// same tables (sources, builtin) through the same helpers, but looks every
// attribute up in the sources map, reads the completion signals with
// Map.Get, classifies with maps and tries every convention rule.
// TestExtractMatchesReference and FuzzExtract compare the two.

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func (s *scan) refVisit(k string, v pcommon.Value) bool {
	src, ok := sources[k]
	if !ok {
		if strings.HasPrefix(k, aggregatedUsagePrefix) {
			s.aggUsage, s.genai = true, true
		}
		return true
	}
	if src.genai {
		s.genai = true
	}
	if src.sub == subVercel {
		s.vercel = true
	}
	switch f := src.field; {
	case f >= fInput && f < numFields:
		// Every count is parsed, whatever its rank, so that a malformed count is
		// reported independently of attribute order.
		n, err := tokenCount(v)
		if err != nil {
			if s.err == nil {
				s.err = &MalformedError{Attr: k, Reason: err.Error()}
			}
			return true
		}
		if src.rank > s.ranks[f] {
			s.ranks[f], s.counts[f] = src.rank, n
			if f >= fInputAudio {
				s.partKeys[f-fInputAudio] = k
			}
		}
	case f == fCost:
		if src.rank > s.ranks[f] {
			if c := costText(v); c != "" {
				s.ranks[f], s.strs[f] = src.rank, c
			}
		}
	case f < numStrFields:
		if src.rank <= s.ranks[f] || v.Type() != pcommon.ValueTypeStr {
			return true
		}
		str := v.Str()
		if str == "" {
			return true
		}
		if f == fProvider && str == "strands-agents" {
			s.strands = true
		}
		s.ranks[f], s.strs[f] = src.rank, str
		if f == fProvider {
			s.provSub = src.sub
		}
	default:
		if v.Type() != pcommon.ValueTypeStr {
			return true
		}
		switch f {
		case mOIKind:
			s.oiKind = v.Str()
		case mLFType:
			s.lfType = v.Str()
		case mLFUsage:
			s.lfUsage, s.hasLFUse = v, true
		case mLFCost:
			s.lfCost, s.hasLFCst = v, true
		case mAIOperation:
			s.aiOp = v.Str()
		case mTLSpanKind:
			s.tlKind = v.Str()
		case mSDKName:
			s.sdkName = v.Str()
		case mServerAddr:
			s.server = v.Str()
		case mAIProvMeta:
			s.provMeta = v.Str()
		}
	}
	return true
}
func refExtract(span ptrace.Span, scope Scope, conv *Conventions) (Call, Kind, error) {
	var s scan
	span.Attributes().Range(s.refVisit)
	if !s.genai {
		return Call{}, NotGenAI, nil
	}
	kind, op := s.refClassify(span.Name())
	switch {
	case kind == Wrapper && s.err != nil:
		// Not metered unless its child never arrives; a malformed count then
		// reads as no usage, rather than failing a span nobody meters today.
		s.ranks = [numFields]uint8{}
		s.counts = [numFields]int64{}
		s.err = nil
	case kind != Inference && kind != Wrapper:
		return Call{}, kind, nil
	}
	c := Call{
		Operation:     op,
		Provider:      normalizeProviderFrom(s.strs[fProvider], s.provSub),
		RequestModel:  s.strs[fRequestModel],
		ResponseModel: s.strs[fResponseModel],
		ReportedCost:  s.strs[fCost],
		Feature:       s.strs[fFeature],
	}
	if c.Provider == "" && s.server != "" {
		c.Provider = providerFromHost(s.server)
	}
	if s.err != nil {
		return refMalformed(c, kind, s.err)
	}
	lfUsage := false
	if s.hasLFUse && s.ranks[fInput] == 0 && s.ranks[fOutput] == 0 {
		if err := s.langfuseUsage(); err != nil {
			return refMalformed(c, kind, err)
		}
		lfUsage = s.ranks[fInput] != 0 || s.ranks[fOutput] != 0
	}
	if c.ReportedCost == "" && s.hasLFCst && s.lfCost.Type() == pcommon.ValueTypeStr {
		c.ReportedCost = langfuseCostTotal(s.lfCost.Str())
	}

	if s.provMeta != "" && s.ranks[fCacheWrite1h] == 0 {
		// The Vercel AI SDK writes Anthropic's 1h cache writes only in the
		// provider's raw usage, inside ai.response.providerMetadata.
		if n, ok := jsonCount(s.provMeta, `"ephemeral_1h_input_tokens":`); ok {
			s.counts[fCacheWrite1h], s.ranks[fCacheWrite1h] = n, 1
			s.partKeys[fCacheWrite1h-fInputAudio] = "ai.response.providerMetadata"
		}
	}
	u := Usage{
		Input: s.counts[fInput], Output: s.counts[fOutput],
		CacheRead: s.counts[fCacheRead], CacheWrite: s.counts[fCacheWrite], Reasoning: s.counts[fReasoning],
		InputAudio: s.counts[fInputAudio], OutputAudio: s.counts[fOutputAudio], CacheWrite1h: s.counts[fCacheWrite1h],
	}
	for f := fInput; f < numFields; f++ {
		if s.ranks[f] != 0 {
			u.Reported = true
		}
	}
	res := refResolve(conv, scope, s.signal(), c.Provider, lfUsage)
	if u.Reported {
		var err error
		if c.TokenConvention, c.OutputConvention, err = normalizeUsage(&u, res, c.Provider); err != nil {
			c.TokenConvention, c.OutputConvention = "", ""
			return refMalformed(c, kind, err)
		}
	}
	if kind == Inference {
		if err := s.checkParts(&u); err != nil {
			return refMalformed(c, kind, err)
		}
	}
	c.Usage = u
	if kind == Wrapper {
		// Its completion is judged by the processor, from whether its
		// model-call child arrives.
		c.Streamed = s.streamWrapper
		return c, Wrapper, nil
	}
	refJudgeCompletion(span, &c, res)
	return c, Inference, nil
}

var refInferenceOps = map[string]bool{
	"chat": true, "generate_content": true, "text_completion": true, "embeddings": true,
}

// refAggregateOps are operations whose spans may carry their children's totals, or
// that are GenAI but never a model call.
var refAggregateOps = map[string]bool{
	"invoke_agent": true, "create_agent": true, "invoke_workflow": true, "execute_tool": true,
	"retrieval": true, "plan": true, "agent_step": true,
	"framework": true, // Spring AI ChatClient span
}

// refVercelWrappers are the Vercel AI SDK spans around exactly one kind of model
// call (their do* child): the operation of that call and whether it streams.
var refVercelWrappers = map[string]struct {
	op     string
	stream bool
}{
	"ai.generateText":   {"chat", false},
	"ai.streamText":     {"chat", true},
	"ai.generateObject": {"chat", false},
	"ai.streamObject":   {"chat", true},
	"ai.embed":          {"embeddings", false},
	"ai.embedMany":      {"embeddings", false},
}

func (s *scan) refClassify(name string) (Kind, string) {
	op := normalizeOp(s.strs[fOperation])

	// Vercel AI SDK legacy spans: ai.operationId, else the span name.
	var vercelCall, vercelOther bool
	if s.vercel || s.aiOp != "" {
		id := s.aiOp
		if id == "" {
			id = name
		}
		if strings.HasPrefix(id, "ai.") {
			switch {
			case strings.HasSuffix(id, ".doGenerate"), strings.HasSuffix(id, ".doStream"):
				vercelCall = true
				if op == "" {
					op = "chat"
				}
			case strings.HasSuffix(id, ".doEmbed"):
				vercelCall = true
				if op == "" {
					op = "embeddings"
				}
			default:
				vercelOther = true
			}
		}
	}

	// Aggregates first: whatever else a span says, these never are metered.
	switch {
	case s.aggUsage, refAggregateOps[op], s.tlKind != "":
		return Aggregate, ""
	case s.oiKind == "AGENT", s.oiKind == "CHAIN":
		return Aggregate, ""
	case s.lfType == "agent", s.lfType == "chain":
		return Aggregate, ""
	case vercelOther && s.aiOp != "ai.toolCall" && name != "ai.toolCall":
		// ai.generateText, ai.streamText, ai.embed, ...: the wrapper repeats its
		// do* children's usage.
		id := s.aiOp
		if id == "" {
			id = name
		}
		if w, ok := refVercelWrappers[id]; ok {
			if op == "" {
				op = w.op
			}
			s.streamWrapper = w.stream
			return Wrapper, op
		}
		return Aggregate, ""
	}

	call := vercelCall || refInferenceOps[op]
	switch s.oiKind {
	case "":
	case "LLM":
		call = true
		if op == "" {
			op = "chat"
		}
	case "EMBEDDING":
		call = true
		if op == "" {
			op = "embeddings"
		}
	default: // TOOL, RETRIEVER, RERANKER, GUARDRAIL, EVALUATOR, PROMPT, UNKNOWN
		if !call {
			return NotGenAI, ""
		}
	}
	switch s.lfType {
	case "":
	case "generation":
		call = true
		if op == "" {
			op = "chat"
		}
	case "embedding":
		call = true
		if op == "" {
			op = "embeddings"
		}
	default:
		if !call {
			return NotGenAI, ""
		}
	}
	if call {
		return Inference, op
	}
	if op != "" || vercelOther {
		// an operation we do not meter (or an ai.toolCall span)
		return NotGenAI, ""
	}
	// No operation: OpenLLMetry names its spans {vendor}.{chat|completion|embeddings};
	// older instrumentations set no operation at all and are metered if they
	// name a model.
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		switch name[i+1:] {
		case "chat":
			op = "chat"
		case "completion":
			op = "text_completion"
		case "embeddings", "embedding":
			op = "embeddings"
		}
	}
	if op == "" && s.strs[fRequestModel] == "" && s.strs[fResponseModel] == "" {
		return NotGenAI, ""
	}
	return Inference, op
}

func refJudgeCompletion(span ptrace.Span, c *Call, r resolution) {
	traits := r.stream
	attrs := span.Attributes()
	finish := refFinishReasons(attrs)
	chat := c.Operation != "embeddings"
	// Where the span does not say it, an emitter's traits can: one that writes
	// no finish reason on streams only, or one that reports usage on every
	// call but a streamed one (a chat call's response always has usage).
	c.Streamed = chat && (refStreamed(span.Name(), attrs) ||
		(traits&NoFinishOnStreams != 0 && finish == finishAbsent) ||
		(traits&NoStreamUsage != 0 && !c.Usage.Reported))

	switch {
	case span.Status().Code() == ptrace.StatusCodeError:
		c.Completion, c.CompletionDetail = CompletionError, DetailStatusError
	case !chat:
		// Embeddings have no finish reason and are never streamed.
		c.Completion = CompletionComplete
		if !c.Usage.Reported {
			c.Completion = CompletionUnknown
		}
	case finish == finishEmpty:
		c.Completion, c.CompletionDetail = CompletionStopped, DetailEmptyFinish
	case c.Streamed && traits&StartUsage != 0 && c.Usage.Reported && c.Usage.Output <= 1:
		c.Completion, c.CompletionDetail = CompletionStopped, DetailStartUsageOnly
	case finish == finishAbsent && traits&NoFinishIsStopped != 0:
		c.Completion, c.CompletionDetail = CompletionStopped, DetailNoFinish
	case c.Streamed && traits&StopLooksComplete != 0:
		c.Completion, c.CompletionDetail = CompletionUnknown, DetailStopUnknowable
		switch {
		case traits&EstimatesStreamUsage != 0:
			c.CompletionDetail = DetailEstimatedUsage
		case traits&NoStreamUsage != 0 && !c.Usage.Reported:
			c.CompletionDetail = DetailNoUsageNoStop
		}
	case finish == finishPresent:
		c.Completion = CompletionComplete
	case c.Streamed && traits&StartUsage != 0 && c.Usage.Reported:
		// The message_delta count arrived: the stream ran to its end.
		c.Completion = CompletionComplete
	case !c.Streamed && c.Usage.Reported && r.known:
		// A known emitter that reported usage on a call that was not streamed:
		// the response arrived whole.
		c.Completion = CompletionComplete
	default:
		c.Completion = CompletionUnknown
	}
	if !c.Streamed || c.CompletionDetail != "" {
		return
	}
	switch {
	case traits&EstimatesStreamUsage != 0:
		c.CompletionDetail = DetailEstimatedUsage
	case !c.Usage.Reported && traits&NoStreamUsage != 0:
		c.CompletionDetail = DetailNoStreamUsage
	case !c.Usage.Reported:
		c.CompletionDetail = DetailNoStreamUsageAny
	}
}

// finishReasons reads the finish reasons of the dialects that write them:
// gen_ai.response.finish_reasons (semconv, a list; a string in the wild),
// llm.finish_reason (OpenInference JS) and ai.response.finishReason (Vercel).
func refFinishReasons(attrs pcommon.Map) finishState {
	state := finishAbsent
	if v, ok := attrs.Get("gen_ai.response.finish_reasons"); ok {
		state = finishEmpty
		switch v.Type() {
		case pcommon.ValueTypeSlice:
			s := v.Slice()
			for i := 0; i < s.Len(); i++ {
				if s.At(i).Type() == pcommon.ValueTypeStr && s.At(i).Str() != "" {
					return finishPresent
				}
			}
		case pcommon.ValueTypeStr:
			if v.Str() != "" && v.Str() != "[]" {
				return finishPresent
			}
		}
	}
	for _, k := range [...]string{"llm.finish_reason", "ai.response.finishReason"} {
		if v, ok := attrs.Get(k); ok {
			if v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
				return finishPresent
			}
			state = finishEmpty
		}
	}
	return state
}

// streamed reads whether the span says its call was streamed:
// gen_ai.request.stream (@anthropic-ai/sdk's own tracing),
// gen_ai.request.is_stream (OpenLIT), a Vercel doStream span, or the
// request parameters OpenInference and Langfuse record.
func refStreamed(name string, attrs pcommon.Map) bool {
	for _, k := range [...]string{"gen_ai.request.stream", "gen_ai.request.is_stream"} {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeBool && v.Bool() {
			return true
		}
	}
	if strings.HasSuffix(name, ".doStream") {
		return true
	}
	if v, ok := attrs.Get("ai.operationId"); ok && v.Type() == pcommon.ValueTypeStr && strings.HasSuffix(v.Str(), ".doStream") {
		return true
	}
	for _, k := range [...]string{"llm.invocation_parameters", "langfuse.observation.model.parameters"} {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr && strings.Contains(v.Str(), `"stream":true`) {
			return true
		}
	}
	return false
}

func refResolve(c *Conventions, scope Scope, signal, provider string, langfuse bool) resolution {
	var r resolution
	if c != nil {
		r = refMatchRules(c.rules, scope, signal, provider, r)
	}
	if langfuse {
		// Langfuse usage_details are disjoint buckets whose sum is the total:
		// input without cache, output without reasoning (derived from
		// [langfuse-proc], which subtracts them when ingesting semconv).
		r.known = true
		if r.in == "" {
			r.in = Exclusive
		}
		if r.out == "" {
			r.out = Exclusive
		}
	}
	configured := r.known
	r = refMatchRules(builtin, scope, signal, provider, r)
	if configured && r.stream == 0 {
		// A configured rule states a convention, not stream behaviour: take
		// that from the first built-in row for the emitter, if any.
		for i := range builtin {
			if builtin[i].matches(scope, signal, provider) {
				r.stream = builtin[i].Stream
				break
			}
		}
	}
	if r.in == "" {
		r.in = Inclusive
	}
	if r.out == "" {
		r.out = Inclusive
	}
	return r
}

func refMatchRules(rules []Rule, scope Scope, signal, provider string, r resolution) resolution {
	for i := range rules {
		rule := &rules[i]
		if !rule.matches(scope, signal, provider) {
			continue
		}
		if !r.known {
			r.known, r.stream = true, rule.Stream
		}
		if r.in == "" {
			r.in = rule.Input
		}
		if r.out == "" {
			r.out = rule.Output
		}
		if r.in != "" && r.out != "" {
			break
		}
	}
	return r
}

func refMalformed(c Call, kind Kind, err error) (Call, Kind, error) {
	c.Usage = Usage{}
	c.ReportedCost = ""
	c.Invalid = err.Error()
	return c, kind, err
}

// checkReference fails t when Extract and the reference disagree on a span.
func checkReference(t testing.TB, span ptrace.Span, scope Scope, conv *Conventions) {
	t.Helper()
	call, kind, err := Extract(span, scope, conv)
	rcall, rkind, rerr := refExtract(span, scope, conv)
	if kind != rkind || call != rcall || errText(err) != errText(rerr) || reflect.TypeOf(err) != reflect.TypeOf(rerr) {
		t.Fatalf("span %q (scope %+v) differs from the reference:\n got %v %+v %v\nwant %v %+v %v",
			span.Name(), scope, kind, call, err, rkind, rcall, rerr)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestExtractMatchesReference: every span of every real-client capture (each
// dialect's LLM calls, wrappers, agent, tool and HTTP spans), the benchmark
// spans and spans with repeated attribute names give what the reference
// gives. (runCases and FuzzExtract check every other test case too.)
func TestExtractMatchesReference(t *testing.T) {
	n := 0
	for _, tds := range readFixtures(t) {
		for _, td := range tds {
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				sss := rss.At(i).ScopeSpans()
				for j := 0; j < sss.Len(); j++ {
					scope := ScopeOf(sss.At(j).Scope())
					for k := 0; k < sss.At(j).Spans().Len(); k++ {
						checkReference(t, sss.At(j).Spans().At(k), scope, nil)
						n++
					}
				}
			}
		}
	}
	for _, ps := range [][]spanProto{benchProtos, plainProtos, pipelineChat} {
		spans, scopes := buildSpans(t, ps, 2*len(ps))
		for i, s := range spans {
			checkReference(t, s, scopes[i], nil)
			n++
		}
	}
	t.Logf("%d spans", n)
}

// TestExtractRepeatedNames: OTLP allows a name twice in one span; the
// completion signals are read from their first occurrence (as Map.Get reads
// them), the rest as the scan always did.
func TestExtractRepeatedNames(t *testing.T) {
	const body = `{"resourceSpans":[{"scopeSpans":[{"scope":{"name":"gen_ai"},"spans":[{"name":"chat gpt-4o","attributes":[
		{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
		{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
		{"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{}}},
		{"key":"gen_ai.response.finish_reasons","value":{"arrayValue":{"values":[{"stringValue":"stop"}]}}},
		{"key":"gen_ai.request.stream","value":{"boolValue":false}},
		{"key":"gen_ai.request.stream","value":{"boolValue":true}},
		{"key":"ai.operationId","value":{"stringValue":"ai.streamText.doGenerate"}},
		{"key":"ai.operationId","value":{"stringValue":"ai.streamText.doStream"}},
		{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}},
		{"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},
		{"key":"gen_ai.usage.output_tokens","value":{"intValue":"3"}}]}]}]}]}`
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	if span.Attributes().Len() != 11 {
		t.Fatalf("the decoder kept %d of 11 attributes", span.Attributes().Len())
	}
	checkReference(t, span, Scope{Name: "gen_ai"}, nil)
	// What the reference says, stated: the empty list comes first, so the
	// call was stopped; the first stream flag and operation id say it was
	// not streamed; at equal rank the first count wins.
	call, kind, err := Extract(span, Scope{Name: "gen_ai"}, nil)
	if err != nil || kind != Inference || call.Completion != CompletionStopped || call.CompletionDetail != DetailEmptyFinish ||
		call.Streamed || call.Usage.Input != 10 {
		t.Fatalf("%v %v %+v", kind, err, call)
	}
}

// TestResolveMatchesReference: the indexed rule matching resolves every
// scope, signal and provider as trying every rule in order did, for the
// built-in table alone and under configured rules: without a prefix, with
// prefixes sharing a first byte, output-only rules, and more than 64 rules
// (no index).
func TestResolveMatchesReference(t *testing.T) {
	few, err := NewConventions(
		Rule{ScopePrefix: "opentelemetry.instrumentation.openai", Input: Exclusive},
		Rule{Provider: "anthropic", Output: Exclusive},
		Rule{ScopePrefix: "openlit", VersionBelow: "1.30", Input: Inclusive, Output: Inclusive},
		Rule{ScopePrefix: "@traceloop", Output: Inclusive},
		Rule{Input: Inclusive})
	if err != nil {
		t.Fatal(err)
	}
	var rules []Rule
	for i := range 70 {
		rules = append(rules, Rule{ScopePrefix: fmt.Sprintf("app-%d", i), Input: Exclusive})
	}
	many, err := NewConventions(append(rules, Rule{ScopePrefix: "openlit", Output: Exclusive}, Rule{Provider: "openai", Input: Exclusive})...)
	if err != nil {
		t.Fatal(err)
	}
	if !many.index.all || few.index.all {
		t.Fatalf("index: many.all %v, few.all %v", many.index.all, few.index.all)
	}
	var scopes []Scope
	for _, r := range append(append(builtin, few.rules...), many.rules...) {
		for _, v := range []string{"", "0.1.0", "0.27.0", "0.27.1", "1.29.9", "2.0"} {
			scopes = append(scopes, Scope{Name: r.ScopePrefix, Version: v}, Scope{Name: r.ScopePrefix + ".x", Version: v})
		}
	}
	scopes = append(scopes, Scope{Name: "x"}, Scope{Name: "@"}, Scope{Name: "app-69"}, Scope{Name: "app-7"})
	n := 0
	for _, conv := range []*Conventions{nil, few, many} {
		for _, scope := range scopes {
			for _, signal := range []string{"", "openlit", "strands.telemetry.tracer"} {
				for _, provider := range []string{"", "openai", "anthropic", "aws.bedrock"} {
					for _, lf := range []bool{false, true} {
						got := conv.resolve(scope, signal, provider, lf)
						want := refResolve(conv, scope, signal, provider, lf)
						if got != want {
							t.Fatalf("resolve(%+v, %q, %q, %v) = %+v, the reference %+v", scope, signal, provider, lf, got, want)
						}
						n++
					}
				}
			}
		}
	}
	t.Logf("%d resolutions", n)
}
