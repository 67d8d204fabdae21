// Package genaiconv recognizes LLM calls in spans and normalizes what they report
// — operation, provider, models, token usage and the instrumentation's own cost —
// whatever conventions version or instrumentation dialect emitted them. It is the
// only place that knows attribute names of instrumentations; everything
// downstream works on a Call.
//
// Dialects: OTel GenAI semconv v1.26 → the GenAI repo's unreleased names,
// OpenLLMetry/Traceloop, OpenInference, the Vercel AI SDK (legacy ai.* and v7
// semconv modes), OpenLIT, Langfuse, Pydantic Logfire / Pydantic AI, Spring AI,
// Semantic Kernel and AWS Strands. See README.md for the attribute table and the
// token-convention table.
package genaiconv

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/money"
)

// Kind says what a span is to the meter.
type Kind uint8

const (
	// NotGenAI is any span that is not an LLM call: it passes through untouched.
	NotGenAI Kind = iota
	// Inference is the span of an actual model call: it is metered.
	Inference
	// Aggregate is a GenAI span that may repeat its children's usage (an agent,
	// workflow or SDK wrapper span): it is never metered, so no call is counted
	// twice.
	Aggregate
	// Wrapper is an SDK span around one model call (the Vercel AI SDK's
	// ai.streamText around ai.streamText.doStream): it repeats its model-call
	// child's usage, so it is not metered when that child arrives. But a
	// stopped stream leaves the child unended and only the wrapper arrives:
	// the processor then makes it a flagged record, never nothing. Extract
	// returns its call (operation, provider, models, Streamed and whatever
	// usage it carries).
	Wrapper
)

func (k Kind) String() string {
	switch k {
	case NotGenAI:
		return "NotGenAI"
	case Inference:
		return "Inference"
	case Aggregate:
		return "Aggregate"
	case Wrapper:
		return "Wrapper"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Usage holds token counts in the OTel GenAI semantic conventions' meaning:
// Input is the total input including cache reads and writes, Output includes
// reasoning tokens. Extract converts every dialect to this meaning (see
// Call.TokenConvention and Call.OutputConvention).
type Usage struct {
	Input, Output, CacheRead, CacheWrite, Reasoning int64
	// InputAudio and OutputAudio are the audio parts of Input and Output (they
	// are included in those totals, as the semconv per-modality counts are).
	InputAudio, OutputAudio int64
	// CacheWrite1h is the part of CacheWrite written with a one-hour TTL
	// (Anthropic cache_creation.ephemeral_1h_input_tokens); the rest of
	// CacheWrite is priced at the 5-minute rate.
	CacheWrite1h int64
	// Reported says whether the span reported any token count at all; a call
	// without usage must be flagged, not priced at zero.
	Reported bool
}

// Values of Call.TokenConvention and Call.OutputConvention: how the emitter's
// raw counts related to the semconv totals, i.e. what Extract did to them.
const (
	// ConvInclusive: the raw count already was the semconv total (input includes
	// cache reads and writes; output includes reasoning). Nothing was added.
	ConvInclusive = "inclusive"
	// ConvExclusive: the emitter is known (built-in table or a Conventions rule)
	// to report input without cache (output without reasoning); the cache
	// (reasoning) was added.
	ConvExclusive = "exclusive"
	// ConvExclusiveDetected: the emitter was taken as inclusive, but its counts
	// were impossible under that rule (cache_read + cache_write > input, or
	// reasoning > output), so the count was treated as exclusive and the cache
	// (reasoning) was added. This is the guard against LiteLLM-style mixes.
	ConvExclusiveDetected = "exclusive_detected"
	// ConvInclusiveUnverified: read as inclusive, but the emitter is in no
	// table, the call has cache tokens and its provider's API counts input
	// exclusively (Anthropic, Bedrock): the numbers alone cannot tell the two
	// conventions apart, so the record says nobody verified it.
	ConvInclusiveUnverified = "inclusive_unverified"
)

// Values of Call.Completion: whether the call ran to its end, from the
// signals its emitter leaves (finish reasons, span status, a streamed
// Anthropic call that carries only its message_start usage, a wrapper whose
// model-call child never arrived). "" means the call was not judged.
const (
	CompletionComplete = "complete"
	CompletionStopped  = "stopped"
	CompletionError    = "error"
	CompletionUnknown  = "unknown"
)

// Call is one recognized LLM call.
type Call struct {
	// Operation is the gen_ai.operation.name value (chat, generate_content,
	// text_completion, embeddings); dialects without one get chat or embeddings
	// from their span type.
	Operation string
	// Provider is normalized to the semconv gen_ai.provider.name values; "" when
	// unknown or a framework name (strands-agents, spring_ai).
	Provider      string
	RequestModel  string
	ResponseModel string
	// Usage is in semconv meaning, whatever the emitter reported.
	Usage Usage
	// ReportedCost is the cost the instrumentation itself reported
	// (gen_ai.usage.cost, llm.cost.total, operation.cost, Langfuse cost_details),
	// as exact decimal text (USD as far as every known emitter is concerned);
	// "" when none.
	ReportedCost string
	// TokenConvention says how the raw input count was read: ConvInclusive,
	// ConvExclusive, ConvExclusiveDetected or ConvInclusiveUnverified; "" when
	// no usage was reported.
	TokenConvention string
	// OutputConvention says the same for output vs reasoning tokens.
	OutputConvention string
	// Completion is one of the Completion* values ("" when not judged).
	Completion string
	// CompletionDetail says why, for finance: e.g. that this instrumentation
	// never reports usage on streamed calls, so a missing usage is not a
	// stopped stream. "" when there is nothing to add.
	CompletionDetail string
	// Streamed is true when the span says the call was streamed.
	Streamed bool
	// Invalid says why the call's usage (or time) cannot be trusted, "" when
	// it can. Extract sets it for a malformed token count (and then leaves
	// Usage zero); the meter sets it for the limits it enforces (a count
	// above its bound, an impossible time). Such a call is recorded with
	// pricing status invalid_usage, never priced and never billable.
	Invalid string
	// Feature is the application feature the call belongs to, where an SDK
	// names one (ai.telemetry.functionId, traceloop.workflow.name,
	// traceloop.entity.name, gen_ai.agent.name); best effort, "" when none.
	Feature string
}

// Scope identifies the instrumentation that emitted a span (the OTLP
// instrumentation scope). The zero Scope means unknown.
type Scope struct {
	Name, Version string
}

// ScopeOf returns the Scope of an OTLP instrumentation scope.
func ScopeOf(s pcommon.InstrumentationScope) Scope {
	return Scope{Name: s.Name(), Version: s.Version()}
}

// MalformedError reports a span whose usage cannot be trusted (a negative or
// non-numeric token count). Such a span is counted and skipped, never priced.
type MalformedError struct {
	Attr   string
	Reason string
}

func (e *MalformedError) Error() string { return e.Attr + ": " + e.Reason }

// field identifies what an attribute contributes to a Call. Several attribute
// names (current, deprecated, dialect) feed the same field; rank decides which
// wins when a span carries more than one, independent of attribute order.
type field uint8

const (
	fNone field = iota
	fOperation
	fProvider
	fRequestModel
	fResponseModel
	fFeature
	fCost
	// string fields end here
	fInput
	fOutput
	fCacheRead
	fCacheWrite
	fReasoning
	fInputAudio
	fOutputAudio
	fCacheWrite1h
	numFields

	// markers: attributes that classify a span or carry dialect data.
	mOIKind      // openinference.span.kind
	mLFType      // langfuse.observation.type
	mLFUsage     // langfuse.observation.usage_details (JSON)
	mLFCost      // langfuse.observation.cost_details (JSON)
	mAIOperation // ai.operationId (Vercel AI SDK)
	mTLSpanKind  // traceloop.span.kind (decorator spans)
	mSDKName     // telemetry.sdk.name (OpenLIT writes it on spans)
	mServerAddr  // server.address (provider fallback)
	mAIProvMeta  // ai.response.providerMetadata (Vercel AI SDK, JSON)

	// completion signals (see judgeCompletion): the scan keeps each one's
	// first occurrence, the value Map.Get would return.
	mFinishReasons // gen_ai.response.finish_reasons
	mLLMFinish     // llm.finish_reason (OpenInference JS)
	mAIFinish      // ai.response.finishReason (Vercel AI SDK)
	mStream        // gen_ai.request.stream (@anthropic-ai/sdk's own tracing)
	mIsStream      // gen_ai.request.is_stream (OpenLIT)
	mOIParams      // llm.invocation_parameters (OpenInference, JSON)
	mLFParams      // langfuse.observation.model.parameters (Langfuse, JSON)
	endCaptured
)

// capAIOp is the capture slot of ai.operationId's first occurrence (the
// classifier reads its last string value, judgeCompletion the first value).
const (
	capAIOp     = endCaptured - mFinishReasons
	numCaptured = capAIOp + 1
)

const numStrFields = fCost + 1

// sub qualifies how a source's value is read.
type sub uint8

const (
	subNone       sub = iota
	subOIProvider     // OpenInference llm.provider/llm.system values
	subVercel         // an ai.* attribute: the span is from the Vercel AI SDK
)

type source struct {
	field field
	rank  uint8 // higher wins
	sub   sub
	genai bool // the attribute alone makes the span a GenAI span
}

// sources maps attribute names to fields; see README.md for where each comes
// from. Within a field, current semconv names rank highest, then deprecated
// names, then dialect names.
var sources = map[string]source{
	// operation
	"gen_ai.operation.name": {fOperation, 3, subNone, true},
	"gen_ai.type":           {fOperation, 2, subNone, true}, // OpenLIT, older
	"llm.request.type":      {fOperation, 1, subNone, true}, // OpenLLMetry legacy

	// provider
	"gen_ai.provider.name": {fProvider, 7, subNone, true},
	"gen_ai.system":        {fProvider, 6, subNone, true},
	"llm.provider":         {fProvider, 5, subOIProvider, true},
	"llm.system":           {fProvider, 4, subOIProvider, true},
	"ai.model.provider":    {fProvider, 3, subVercel, true},
	"llm.vendor":           {fProvider, 2, subNone, true}, // OpenLLMetry legacy

	// models
	"gen_ai.request.model":    {fRequestModel, 5, subNone, true},
	"llm.request.model":       {fRequestModel, 4, subNone, true},
	"llm.request.model_name":  {fRequestModel, 3, subNone, true},
	"ai.model.id":             {fRequestModel, 2, subVercel, true},
	"gen_ai.response.model":   {fResponseModel, 7, subNone, true},
	"llm.response.model":      {fResponseModel, 6, subNone, true},
	"llm.response.model_name": {fResponseModel, 5, subNone, true},
	"ai.response.model":       {fResponseModel, 4, subVercel, true},
	// OpenInference and Langfuse name one model, the one used when known.
	"llm.model_name":                  {fResponseModel, 3, subNone, true},
	"embedding.model_name":            {fResponseModel, 2, subNone, true},
	"langfuse.observation.model.name": {fResponseModel, 1, subNone, true},

	// input
	"gen_ai.usage.input_tokens":     {fInput, 9, subNone, true},
	"gen_ai.usage.prompt_tokens":    {fInput, 8, subNone, true},
	"gen_ai.response.prompt_tokens": {fInput, 7, subNone, true}, // Semantic Kernel, older
	"llm.usage.prompt_tokens":       {fInput, 6, subNone, true},
	"llm.token_count.prompt":        {fInput, 5, subNone, true},
	"ai.usage.inputTokens":          {fInput, 4, subVercel, true},
	"ai.usage.promptTokens":         {fInput, 3, subVercel, true},
	"ai.usage.tokens":               {fInput, 2, subVercel, true}, // embeddings

	// output
	"gen_ai.usage.output_tokens":        {fOutput, 9, subNone, true},
	"gen_ai.usage.completion_tokens":    {fOutput, 8, subNone, true},
	"gen_ai.response.completion_tokens": {fOutput, 7, subNone, true},
	"llm.usage.completion_tokens":       {fOutput, 6, subNone, true},
	"llm.token_count.completion":        {fOutput, 5, subNone, true},
	"ai.usage.outputTokens":             {fOutput, 4, subVercel, true},
	"ai.usage.completionTokens":         {fOutput, 3, subVercel, true},

	// cache read
	"gen_ai.usage.cache_read.input_tokens":             {fCacheRead, 9, subNone, true},
	"gen_ai.usage.cache_read_input_tokens":             {fCacheRead, 8, subNone, true},
	"gen_ai.usage.details.cache_read_tokens":           {fCacheRead, 7, subNone, true}, // Pydantic AI
	"gen_ai.usage.prompt_tokens_details.cached_tokens": {fCacheRead, 6, subNone, true}, // OpenLIT
	"gen_ai.usage.input_tokens.cached":                 {fCacheRead, 5, subNone, true}, // Sentry
	"llm.token_count.prompt_details.cache_read":        {fCacheRead, 4, subNone, true},
	"ai.usage.inputTokenDetails.cacheReadTokens":       {fCacheRead, 3, subVercel, true},
	"ai.usage.cachedInputTokens":                       {fCacheRead, 2, subVercel, true},

	// cache write
	"gen_ai.usage.cache_write.input_tokens":                    {fCacheWrite, 10, subNone, true},
	"gen_ai.usage.cache_creation.input_tokens":                 {fCacheWrite, 9, subNone, true},
	"gen_ai.usage.cache_creation_input_tokens":                 {fCacheWrite, 8, subNone, true},
	"gen_ai.usage.cache_write_input_tokens":                    {fCacheWrite, 7, subNone, true}, // Strands
	"gen_ai.usage.details.cache_write_tokens":                  {fCacheWrite, 6, subNone, true}, // Pydantic AI
	"gen_ai.usage.prompt_tokens_details.cache_creation_tokens": {fCacheWrite, 5, subNone, true}, // OpenLIT
	"gen_ai.usage.input_tokens.cache_write":                    {fCacheWrite, 4, subNone, true}, // Sentry
	"llm.token_count.prompt_details.cache_write":               {fCacheWrite, 3, subNone, true},
	"ai.usage.inputTokenDetails.cacheWriteTokens":              {fCacheWrite, 2, subVercel, true},

	// reasoning
	"gen_ai.usage.reasoning.output_tokens":                    {fReasoning, 9, subNone, true},
	"gen_ai.usage.reasoning_tokens":                           {fReasoning, 8, subNone, true},
	"gen_ai.usage.details.reasoning_tokens":                   {fReasoning, 7, subNone, true}, // Pydantic AI
	"gen_ai.usage.completion_tokens_details.reasoning_tokens": {fReasoning, 6, subNone, true}, // OpenLIT
	"gen_ai.usage.output_tokens.reasoning":                    {fReasoning, 5, subNone, true}, // Sentry
	"llm.usage.reasoning_tokens":                              {fReasoning, 4, subNone, true},
	"llm.token_count.completion_details.reasoning":            {fReasoning, 3, subNone, true},
	"ai.usage.outputTokenDetails.reasoningTokens":             {fReasoning, 2, subVercel, true},
	"ai.usage.reasoningTokens":                                {fReasoning, 1, subVercel, true},
	"gen_ai.usage.reasoning_output_tokens":                    {fReasoning, 1, subNone, true}, // non-standard spelling in the wild

	// audio parts of input and output (included in their totals)
	"gen_ai.usage.audio.input_tokens":                     {fInputAudio, 9, subNone, true}, // GenAI repo per-modality counts (#440)
	"gen_ai.usage.input_audio_tokens":                     {fInputAudio, 8, subNone, true},
	"gen_ai.usage.details.input_audio_tokens":             {fInputAudio, 7, subNone, true}, // Pydantic AI
	"gen_ai.usage.prompt_tokens_details.audio_tokens":     {fInputAudio, 6, subNone, true}, // OpenAI Chat usage, flattened
	"gen_ai.usage.input_tokens_details.audio_tokens":      {fInputAudio, 5, subNone, true}, // OpenAI Responses/Realtime usage, flattened
	"llm.token_count.prompt_details.audio":                {fInputAudio, 4, subNone, true}, // OpenInference
	"gen_ai.usage.audio.output_tokens":                    {fOutputAudio, 9, subNone, true},
	"gen_ai.usage.output_audio_tokens":                    {fOutputAudio, 8, subNone, true},
	"gen_ai.usage.details.output_audio_tokens":            {fOutputAudio, 7, subNone, true},
	"gen_ai.usage.completion_tokens_details.audio_tokens": {fOutputAudio, 6, subNone, true},
	"gen_ai.usage.output_tokens_details.audio_tokens":     {fOutputAudio, 5, subNone, true},
	"llm.token_count.completion_details.audio":            {fOutputAudio, 4, subNone, true},

	// the 1-hour part of the cache writes (Anthropic
	// usage.cache_creation.ephemeral_1h_input_tokens, flattened)
	"gen_ai.usage.cache_creation.ephemeral_1h_input_tokens": {fCacheWrite1h, 9, subNone, true},
	"gen_ai.usage.cache_write_1h.input_tokens":              {fCacheWrite1h, 8, subNone, true},
	"gen_ai.usage.cache_write_1h_input_tokens":              {fCacheWrite1h, 7, subNone, true},
	"gen_ai.usage.details.cache_write_1h_tokens":            {fCacheWrite1h, 6, subNone, true}, // Pydantic AI details, genai-prices key
	"llm.token_count.prompt_details.cache_write_1h":         {fCacheWrite1h, 5, subNone, true},
	// @anthropic-ai/sdk's own tracing (1.x) and OpenLIT next to it
	"anthropic.usage.cache_creation.ephemeral_1h_input_tokens": {fCacheWrite1h, 4, subNone, true},

	// the instrumentation's own cost
	"gen_ai.usage.cost": {fCost, 4, subNone, false}, // OpenLIT
	"llm.cost.total":    {fCost, 3, subNone, false}, // OpenInference
	"operation.cost":    {fCost, 2, subNone, false}, // Logfire, Pydantic AI

	// feature
	"ai.telemetry.functionId": {fFeature, 4, subVercel, false},
	"traceloop.workflow.name": {fFeature, 3, subNone, false},
	"traceloop.entity.name":   {fFeature, 2, subNone, false},
	"gen_ai.agent.name":       {fFeature, 1, subNone, false},

	// markers
	"openinference.span.kind":            {mOIKind, 1, subNone, true},
	"langfuse.observation.type":          {mLFType, 1, subNone, true},
	"langfuse.observation.usage_details": {mLFUsage, 1, subNone, true},
	"langfuse.observation.cost_details":  {mLFCost, 1, subNone, false},
	"ai.operationId":                     {mAIOperation, 1, subVercel, true},
	"traceloop.span.kind":                {mTLSpanKind, 1, subNone, false},
	"telemetry.sdk.name":                 {mSDKName, 1, subNone, false},
	"server.address":                     {mServerAddr, 1, subNone, false},
	"ai.response.providerMetadata":       {mAIProvMeta, 1, subVercel, false},

	// completion signals: they make no span a GenAI span
	"gen_ai.response.finish_reasons":        {mFinishReasons, 1, subNone, false},
	"llm.finish_reason":                     {mLLMFinish, 1, subNone, false},
	"ai.response.finishReason":              {mAIFinish, 1, subNone, false},
	"gen_ai.request.stream":                 {mStream, 1, subNone, false},
	"gen_ai.request.is_stream":              {mIsStream, 1, subNone, false},
	"llm.invocation_parameters":             {mOIParams, 1, subNone, false},
	"langfuse.observation.model.parameters": {mLFParams, 1, subNone, false},
}

const aggregatedUsagePrefix = "gen_ai.aggregated_usage."

// scan is the state of the single pass over a span's attributes. It lives on
// the stack of Extract.
type scan struct {
	strs   [numStrFields]string
	counts [numFields]int64
	// partKeys are the attribute names the audio and 1h counts were read
	// from, to name them when they exceed the totals they are parts of.
	partKeys [numFields - fInputAudio]string
	ranks    [numFields]uint8
	provSub  sub
	oiKind   string
	lfType   string
	aiOp     string
	tlKind   string
	sdkName  string
	server   string
	provMeta string
	lfUsage  pcommon.Value
	lfCost   pcommon.Value
	// captured are the first occurrences of the completion signals and of
	// ai.operationId (bit i of seen says whether slot i is set).
	captured [numCaptured]pcommon.Value
	seen     uint16
	err      error
	genai    bool
	vercel   bool
	strands  bool
	hasLFUse bool
	hasLFCst bool
	aggUsage bool
	// streamWrapper: the span is a streaming SDK wrapper (ai.streamText).
	streamWrapper bool
}

// capture keeps the first occurrence of a completion signal.
func (s *scan) capture(i field, v pcommon.Value) {
	if s.seen&(1<<i) == 0 {
		s.seen |= 1 << i
		s.captured[i] = v
	}
}

// value returns a captured signal, as Map.Get would.
func (s *scan) value(i field) (pcommon.Value, bool) {
	return s.captured[i], s.seen&(1<<i) != 0
}

func (s *scan) visit(k string, v pcommon.Value) bool {
	e := keys.find(k)
	if e == nil {
		if strings.HasPrefix(k, aggregatedUsagePrefix) {
			s.aggUsage, s.genai = true, true
		}
		return true
	}
	src := *e
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
	case f >= mFinishReasons:
		s.capture(f-mFinishReasons, v)
	default:
		if f == mAIOperation {
			s.capture(capAIOp, v)
		}
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

// Extract recognizes the LLM call in a span. It returns NotGenAI for spans that
// are not GenAI, Aggregate for agent/workflow/wrapper spans (never metered) and
// Inference with the normalized call otherwise. scope is the span's
// instrumentation scope (the zero Scope if unknown); conv overrides the built-in
// token-convention table (nil: built-in only). A malformed token count on an
// inference span returns a *MalformedError, with the call without its usage
// and Invalid set to the error's text.
func Extract(span ptrace.Span, scope Scope, conv *Conventions) (Call, Kind, error) {
	attrs := span.Attributes()
	if !hasGenAISignal(attrs) {
		return Call{}, NotGenAI, nil
	}
	var c Call
	kind, err := extractGenAI(span, attrs, scope, conv, &c)
	return c, kind, err
}

// extractGenAI is Extract on a span that hasGenAISignal kept; it fills c. It
// is a function of its own so that Extract, for every other span, neither
// sets up nor zeroes the scan.
//
//go:noinline
func extractGenAI(span ptrace.Span, attrs pcommon.Map, scope Scope, conv *Conventions, c *Call) (Kind, error) {
	var s scan
	for k, v := range attrs.All() {
		s.visit(k, v)
	}
	kind, op := s.classify(span.Name())
	switch {
	case kind == Wrapper && s.err != nil:
		// Not metered unless its child never arrives; a malformed count then
		// reads as no usage, rather than failing a span nobody meters today.
		s.ranks = [numFields]uint8{}
		s.counts = [numFields]int64{}
		s.err = nil
	case kind != Inference && kind != Wrapper:
		return kind, nil
	}
	c.Operation = op
	c.Provider = normalizeProviderFrom(s.strs[fProvider], s.provSub)
	c.RequestModel = s.strs[fRequestModel]
	c.ResponseModel = s.strs[fResponseModel]
	c.ReportedCost = s.strs[fCost]
	c.Feature = s.strs[fFeature]
	if c.Provider == "" && s.server != "" {
		c.Provider = providerFromHost(s.server)
	}
	if s.err != nil {
		return c.malformed(kind, s.err)
	}
	lfUsage := false
	if s.hasLFUse && s.ranks[fInput] == 0 && s.ranks[fOutput] == 0 {
		if err := s.langfuseUsage(); err != nil {
			return c.malformed(kind, err)
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
	res := conv.resolve(scope, s.signal(), c.Provider, lfUsage)
	if u.Reported {
		var err error
		if c.TokenConvention, c.OutputConvention, err = normalizeUsage(&u, res, c.Provider); err != nil {
			c.TokenConvention, c.OutputConvention = "", ""
			return c.malformed(kind, err)
		}
	}
	if kind == Inference {
		if err := s.checkParts(&u); err != nil {
			return c.malformed(kind, err)
		}
	}
	c.Usage = u
	if kind == Wrapper {
		// Its completion is judged by the processor, from whether its
		// model-call child arrives.
		c.Streamed = s.streamWrapper
		return Wrapper, nil
	}
	judgeCompletion(span, &s, c, res)
	return Inference, nil
}

// hasGenAISignal says whether any attribute makes the span a GenAI span (the
// scan would set genai): most spans of a pipeline are not, and are rejected
// here at the cost of one byte-table test per attribute name (genaiFirst),
// without the scan.
func hasGenAISignal(attrs pcommon.Map) bool {
	found := false
	attrs.Range(func(k string, _ pcommon.Value) bool {
		// The byte test inline: most names of other spans stop here.
		found = k != "" && genaiFirst[k[0]] && genaiKey(k)
		return !found
	})
	return found
}

// jsonCount reads the non-negative integer that follows key in a JSON text
// (the first occurrence), without decoding it: no allocation on the hot path.
func jsonCount(text, key string) (int64, bool) {
	i := strings.Index(text, key)
	if i < 0 {
		return 0, false
	}
	rest := strings.TrimLeft(text[i+len(key):], " ")
	j := 0
	for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	if j == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(rest[:j], 10, 64)
	return n, err == nil
}

// checkParts refuses audio or 1h counts above the totals they are parts of
// (after the token convention was applied): such a span cannot be priced
// right, so it is malformed, never priced with a negative text part.
func (s *scan) checkParts(u *Usage) error {
	switch {
	case u.InputAudio > u.Input:
		return s.partError(fInputAudio, u.InputAudio, u.Input, "input tokens")
	case u.OutputAudio > u.Output:
		return s.partError(fOutputAudio, u.OutputAudio, u.Output, "output tokens")
	case u.CacheWrite1h > u.CacheWrite:
		return s.partError(fCacheWrite1h, u.CacheWrite1h, u.CacheWrite, "cache write tokens")
	}
	return nil
}

func (s *scan) partError(f field, part, all int64, what string) error {
	return &MalformedError{Attr: s.partKeys[f-fInputAudio],
		Reason: fmt.Sprintf("%d is more than the %d %s it is a part of", part, all, what)}
}

// malformed makes c, without usage, the call of a span whose usage cannot
// be trusted, with err: the meter still records the call (flagged invalid)
// under its operation, provider and models.
func (c *Call) malformed(kind Kind, err error) (Kind, error) {
	c.Usage = Usage{}
	c.ReportedCost = ""
	c.Invalid = err.Error()
	return kind, err
}

// signal names the emitter when only span attributes reveal it (no scope, as in
// a processor that does not pass one): Strands writes its framework name as the
// provider, OpenLIT writes telemetry.sdk.name on every span.
func (s *scan) signal() string {
	switch {
	case s.strands:
		return "strands.telemetry.tracer"
	case s.sdkName == "openlit":
		return "openlit"
	}
	return ""
}

// inferenceOp says whether a normalized gen_ai.operation.name value is a
// model call's.
func inferenceOp(op string) bool {
	switch op {
	case "chat", "generate_content", "text_completion", "embeddings":
		return true
	}
	return false
}

// aggregateOp says whether spans of an operation may carry their children's
// totals, or are GenAI but never a model call.
func aggregateOp(op string) bool {
	switch op {
	case "invoke_agent", "create_agent", "invoke_workflow", "execute_tool",
		"retrieval", "plan", "agent_step",
		"framework": // Spring AI ChatClient span
		return true
	}
	return false
}

// vercelWrapper says whether a Vercel AI SDK span is a wrapper around
// exactly one kind of model call (its do* child), and gives the operation of
// that call and whether it streams.
func vercelWrapper(id string) (op string, stream, ok bool) {
	switch id {
	case "ai.generateText", "ai.generateObject":
		return "chat", false, true
	case "ai.streamText", "ai.streamObject":
		return "chat", true, true
	case "ai.embed", "ai.embedMany":
		return "embeddings", false, true
	}
	return "", false, false
}

// normalizeOp maps non-standard operation names onto semconv values.
func normalizeOp(op string) string {
	switch op {
	case "chat.completions": // Semantic Kernel
		return "chat"
	case "text.completions", "completion": // Semantic Kernel; OpenLLMetry llm.request.type
		return "text_completion"
	case "embedding": // Spring AI; OpenLLMetry llm.request.type
		return "embeddings"
	}
	return op
}

// classify decides the Kind of a GenAI span and the operation of a call.
func (s *scan) classify(name string) (Kind, string) {
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
	case s.aggUsage, aggregateOp(op), s.tlKind != "":
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
		if wop, stream, ok := vercelWrapper(id); ok {
			if op == "" {
				op = wop
			}
			s.streamWrapper = stream
			return Wrapper, op
		}
		return Aggregate, ""
	}

	call := vercelCall || inferenceOp(op)
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

var (
	errNegative = errors.New("token count must be >= 0")
	errOverflow = errors.New("token counts overflow int64")
)

// tokenCount reads a token count. Integers are the norm; integral doubles and
// numeric strings occur in the wild and are accepted; anything else is malformed.
func tokenCount(v pcommon.Value) (int64, error) {
	var n int64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		n = v.Int()
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if d != math.Trunc(d) || math.IsInf(d, 0) || math.IsNaN(d) || math.Abs(d) > 1<<53 {
			return 0, fmt.Errorf("token count must be an integer, got %v", d)
		}
		n = int64(d)
	case pcommon.ValueTypeStr:
		p, err := strconv.ParseInt(v.Str(), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("token count must be an integer, got %q", v.Str())
		}
		n = p
	default:
		return 0, fmt.Errorf("token count must be an integer, got a %s", v.Type())
	}
	if n < 0 {
		return 0, fmt.Errorf("%w, got %d", errNegative, n)
	}
	return n, nil
}

// costText returns a reported cost as exact decimal text, "" when the value is
// not a finite non-negative number. Doubles are formatted with the shortest
// representation that round-trips ('f', -1); strings are kept verbatim.
func costText(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeDouble:
		d := v.Double()
		if math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
			return ""
		}
		return strconv.FormatFloat(d, 'f', -1, 64)
	case pcommon.ValueTypeInt:
		if v.Int() < 0 {
			return ""
		}
		return strconv.FormatInt(v.Int(), 10)
	case pcommon.ValueTypeStr:
		if money.IsPlain(v.Str()) {
			return v.Str()
		}
	}
	return ""
}

// selfTracingScopes are the instrumentation scopes of provider SDKs that
// trace their own calls: @anthropic-ai/sdk 1.x writes an inference span of
// its own (scope com.anthropic.sdk.typescript) whenever a tracer provider is
// registered, so under an instrumentation of that SDK each call has two
// inference spans, the SDK's being the child. The processor meters one.
var selfTracingScopes = []string{"com.anthropic.sdk"}

// SelfTracingSDK reports whether spans of scope are written by a provider SDK
// tracing itself (rather than by an instrumentation around it).
func SelfTracingSDK(scope Scope) bool {
	for _, prefix := range selfTracingScopes {
		if strings.HasPrefix(scope.Name, prefix) {
			return true
		}
	}
	return false
}
