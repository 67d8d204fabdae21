package genaiconv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/cockroachdb/apd/v3"
	"github.com/genaimeter/genaimeter/internal/money"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

const attrLFUsage = "langfuse.observation.usage_details"

// langfuseUsageKeys lists, per field, the usage_details keys Langfuse SDKs and
// integrations write (free keys [langfuse-attrs][langfuse-proc]); earlier keys win.
var langfuseUsageKeys = [...]struct {
	f    field
	keys []string
}{
	{fInput, []string{"input", "input_tokens", "prompt_tokens", "inputTokens", "promptTokens"}},
	{fOutput, []string{"output", "output_tokens", "completion_tokens", "outputTokens", "completionTokens"}},
	{fCacheRead, []string{"cache_read_input_tokens", "input_cached_tokens", "input_cache_read", "cache_read"}},
	{fCacheWrite, []string{"cache_creation_input_tokens", "cache_write_input_tokens", "input_cache_creation", "input_cache_write", "cache_write"}},
	{fReasoning, []string{"output_reasoning_tokens", "output_reasoning", "reasoning_tokens"}},
	// @langfuse/openai 5.11.1 writes audio as buckets of their own
	// (testdata/realclients/langfuse-openai-usage.otlp.jsonl).
	{fInputAudio, []string{"input_audio_tokens", "input_audio"}},
	{fOutputAudio, []string{"output_audio_tokens", "output_audio"}},
}

// langfuseUsage parses langfuse.observation.usage_details (a JSON object) into
// the scan's counts, for a span whose attributes carried no other input or
// output count. It is called only for such spans, so its allocations do not
// touch the other dialects.
func (s *scan) langfuseUsage() error {
	if s.lfUsage.Type() != pcommon.ValueTypeStr {
		return &MalformedError{Attr: attrLFUsage, Reason: "must be a JSON object, got a " + s.lfUsage.Type().String()}
	}
	m, err := decodeNumbers(s.lfUsage.Str())
	if err != nil {
		return &MalformedError{Attr: attrLFUsage, Reason: err.Error()}
	}
	var read [numFields]bool
	for _, e := range langfuseUsageKeys {
		if s.ranks[e.f] != 0 {
			continue
		}
		for _, k := range e.keys {
			n, ok := m[k]
			if !ok {
				continue
			}
			v, err := n.Int64()
			if err != nil {
				return &MalformedError{Attr: attrLFUsage + "." + k, Reason: fmt.Sprintf("token count must be an integer, got %s", n)}
			}
			if v < 0 {
				return &MalformedError{Attr: attrLFUsage + "." + k, Reason: fmt.Sprintf("%v, got %d", errNegative, v)}
			}
			s.ranks[e.f], s.counts[e.f], read[e.f] = 1, v, true
			break
		}
	}
	// The buckets are disjoint: "input" and "output" exclude the audio ones,
	// while Usage's counts include their audio parts. (Cache and reasoning are
	// added by the exclusive convention of the dialect.)
	for _, p := range [...]struct{ total, part field }{{fInput, fInputAudio}, {fOutput, fOutputAudio}} {
		if !read[p.part] || s.counts[p.part] == 0 {
			continue
		}
		if s.counts[p.total] > math.MaxInt64-s.counts[p.part] {
			return &MalformedError{Attr: attrLFUsage, Reason: errOverflow.Error()}
		}
		s.ranks[p.total] = max(s.ranks[p.total], 1)
		s.counts[p.total] += s.counts[p.part]
	}
	return nil
}

// decodeNumbers decodes the numeric top-level members of a JSON object; other
// members (strings, nested objects) are ignored.
func decodeNumbers(text string) (map[string]json.Number, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("must be a JSON object: %v", err)
	}
	m := make(map[string]json.Number, len(raw))
	for k, r := range raw {
		r = bytes.TrimSpace(r)
		if len(r) == 0 || (r[0] != '-' && (r[0] < '0' || r[0] > '9')) {
			continue
		}
		m[k] = json.Number(r)
	}
	return m, nil
}

// langfuseCostTotal returns the total of langfuse.observation.cost_details as
// exact decimal text: its "total" member if present, else the exact sum of its
// numeric members. "" when it holds no usable amount.
func langfuseCostTotal(text string) string {
	m, err := decodeNumbers(text)
	if err != nil || len(m) == 0 {
		return ""
	}
	if t, ok := m["total"]; ok {
		return exactDecimal([]json.Number{t})
	}
	ns := make([]json.Number, 0, len(m))
	for _, n := range m {
		ns = append(ns, n)
	}
	return exactDecimal(ns)
}

// exactDecimal sums decimal numbers exactly (money.Add) and formats the sum
// in canonical form; "" if any is negative or not a decimal.
func exactDecimal(ns []json.Number) string {
	var sum apd.Decimal
	for _, n := range ns {
		d, err := money.ParseNonNegative(string(n))
		if err != nil || money.Add(&sum, &sum, &d) != nil {
			return ""
		}
	}
	return money.Format(&sum)
}
