// Package genaiconv recognizes LLM calls in spans and normalizes what they report
// — operation, provider, models and token usage — whatever conventions version or
// instrumentation dialect emitted them. It is the only place that knows attribute
// names of instrumentations; everything downstream works on a Call.
package genaiconv

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// Kind says what a span is to the meter.
type Kind uint8

const (
	// NotGenAI is any span that is not an LLM call: it passes through untouched.
	NotGenAI Kind = iota
	// Inference is the span of an actual model call: it is metered.
	Inference
	// Aggregate is a GenAI span that may repeat its children's usage (an agent
	// or workflow span): it is never metered, so no call is counted twice.
	Aggregate
)

// Usage holds token counts in the OTel GenAI semantic conventions' meaning:
// Input is the total input including cache reads and writes, Output includes
// reasoning tokens.
type Usage struct {
	Input, Output, CacheRead, CacheWrite, Reasoning int64
	// Reported says whether the span reported any token count at all; a call
	// without usage must be flagged, not priced at zero.
	Reported bool
}

// Call is one recognized LLM call.
type Call struct {
	Operation     string
	Provider      string // normalized to the semconv gen_ai.provider.name values
	RequestModel  string
	ResponseModel string
	Usage         Usage
}

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
	fInput
	fOutput
	fCacheRead
	fCacheWrite
	fReasoning
	numFields
)

type source struct {
	field field
	rank  uint8 // higher wins
}

// sources maps attribute names to fields. Current semconv names have the highest
// rank, deprecated names the next; see the package README for where each comes from.
var sources = map[string]source{
	"gen_ai.operation.name": {fOperation, 3},

	"gen_ai.provider.name": {fProvider, 3},
	"gen_ai.system":        {fProvider, 2},

	"gen_ai.request.model":  {fRequestModel, 3},
	"gen_ai.response.model": {fResponseModel, 3},

	"gen_ai.usage.input_tokens":  {fInput, 3},
	"gen_ai.usage.prompt_tokens": {fInput, 2},

	"gen_ai.usage.output_tokens":     {fOutput, 3},
	"gen_ai.usage.completion_tokens": {fOutput, 2},

	"gen_ai.usage.cache_read.input_tokens": {fCacheRead, 3},
	"gen_ai.usage.cache_read_input_tokens": {fCacheRead, 2},

	"gen_ai.usage.cache_write.input_tokens":    {fCacheWrite, 4},
	"gen_ai.usage.cache_creation.input_tokens": {fCacheWrite, 3},
	"gen_ai.usage.cache_creation_input_tokens": {fCacheWrite, 2},
	"gen_ai.usage.cache_write_input_tokens":    {fCacheWrite, 2},

	"gen_ai.usage.reasoning.output_tokens": {fReasoning, 3},
	"gen_ai.usage.reasoning_tokens":        {fReasoning, 2},
}

// inferenceOps are the gen_ai.operation.name values of a model call.
var inferenceOps = map[string]bool{
	"chat": true, "generate_content": true, "text_completion": true, "embeddings": true,
}

// aggregateOps are operations whose spans may carry their children's totals.
var aggregateOps = map[string]bool{
	"invoke_agent": true, "create_agent": true, "invoke_workflow": true, "execute_tool": true,
	"retrieval": true, "plan": true, "agent_step": true,
}

// MalformedError reports a span whose usage cannot be trusted (a negative or
// non-numeric token count). Such a span is counted and skipped, never priced.
type MalformedError struct {
	Attr   string
	Reason string
}

func (e *MalformedError) Error() string { return e.Attr + ": " + e.Reason }

// Extract recognizes the LLM call in a span's attributes. It returns NotGenAI for
// spans without GenAI attributes, Aggregate for agent/workflow spans and
// Inference with the normalized call otherwise. A malformed token count returns
// a *MalformedError.
func Extract(attrs pcommon.Map) (Call, Kind, error) {
	var (
		c      Call
		ranks  [numFields]uint8
		counts [numFields]int64
		err    error
		genai  bool
	)
	attrs.Range(func(k string, v pcommon.Value) bool {
		src, ok := sources[k]
		if !ok || src.rank <= ranks[src.field] {
			return true
		}
		genai = true
		switch src.field {
		case fOperation, fProvider, fRequestModel, fResponseModel:
			s := v.AsString()
			if s == "" {
				return true
			}
			ranks[src.field] = src.rank
			switch src.field {
			case fOperation:
				c.Operation = s
			case fProvider:
				c.Provider = s
			case fRequestModel:
				c.RequestModel = s
			case fResponseModel:
				c.ResponseModel = s
			}
		default:
			n, perr := tokenCount(v)
			if perr != nil {
				err = &MalformedError{Attr: k, Reason: perr.Error()}
				return false
			}
			ranks[src.field] = src.rank
			counts[src.field] = n
		}
		return true
	})
	if err != nil {
		return Call{}, Inference, err
	}
	if !genai {
		return Call{}, NotGenAI, nil
	}
	if aggregateOps[c.Operation] {
		return Call{}, Aggregate, nil
	}
	// A span with GenAI attributes but an operation we do not know (or none) is
	// metered only if it names a model: that covers pre-v1.27 instrumentations
	// that set no operation name.
	if c.Operation != "" && !inferenceOps[c.Operation] {
		return Call{}, NotGenAI, nil
	}
	if c.RequestModel == "" && c.ResponseModel == "" {
		return Call{}, NotGenAI, nil
	}
	c.Provider = NormalizeProvider(c.Provider)
	c.Usage = Usage{
		Input: counts[fInput], Output: counts[fOutput],
		CacheRead: counts[fCacheRead], CacheWrite: counts[fCacheWrite], Reasoning: counts[fReasoning],
		Reported: ranks[fInput] != 0 || ranks[fOutput] != 0,
	}
	return c, Inference, nil
}

var errNegative = errors.New("token count must be >= 0")

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

// providerAliases maps deprecated and non-standard provider spellings onto the
// current gen_ai.provider.name values.
var providerAliases = map[string]string{
	"az.ai.openai":    "azure.ai.openai",
	"az.ai.inference": "azure.ai.inference",
	"vertex_ai":       "gcp.vertex_ai",
	"gemini":          "gcp.gemini",
	"xai":             "x_ai",
	"mistral":         "mistral_ai",
	"mistralai":       "mistral_ai",
}

// NormalizeProvider maps a provider name as emitted onto the semconv value.
func NormalizeProvider(p string) string {
	if a, ok := providerAliases[p]; ok {
		return a
	}
	return p
}
