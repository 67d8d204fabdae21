package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Values of the reason attribute of calls_invalid.
const (
	// invalidTokenCount: a negative, fractional, NaN, non-numeric or
	// overflowing token count (genaiconv.MalformedError).
	invalidTokenCount = "invalid_token_count"
	// invalidAboveBound: a count above limits.max_token_count.
	invalidAboveBound = "token_count_above_bound"
	// invalidTime: no time at all, an end before the start, or an end more
	// than maxFuture ahead of the collector's clock.
	invalidTime = "invalid_time"
)

var invalidReasons = []string{invalidTokenCount, invalidAboveBound, invalidTime}

// defaultMaxTokenCount is limits.max_token_count's default: 10^12 tokens in
// one count of one call, a thousand times the largest context window offered
// today, and small enough that no sum of a call's counts can overflow.
const defaultMaxTokenCount int64 = 1_000_000_000_000

// maxTokenCountLimit bounds limits.max_token_count: with every count of a call
// at most 2^61, input + output (a meter's total_tokens) and input + cache
// reads + writes (exclusive emitters) cannot overflow int64.
const maxTokenCountLimit int64 = 1 << 61

// maxFuture is how far past the collector's clock a call may end: clocks
// drift, but a call that ends more than a day from now cannot be right, and
// billed it would land in a later billing period.
const maxFuture = 24 * time.Hour

// LimitsConfig bounds what a call may claim.
type LimitsConfig struct {
	// MaxTokenCount is the largest token count (input, output, cache read,
	// cache write, reasoning, audio) one call may report; a call above it is
	// recorded with pricing_status invalid_usage, never priced or billed.
	// Default 1000000000000 (10^12); at most 2305843009213693952 (2^61).
	MaxTokenCount int64 `mapstructure:"max_token_count"`

	_ struct{}
}

func (l *LimitsConfig) validate() error {
	if l.MaxTokenCount < 1 || l.MaxTokenCount > maxTokenCountLimit {
		return fmt.Errorf("limits.max_token_count: must be between 1 and %d, got %d", maxTokenCountLimit, l.MaxTokenCount)
	}
	return nil
}

// checkCall reports whether call cannot be metered, with call.Invalid set to
// why: its usage is malformed (set by genaiconv.Extract), a count is above
// limits.max_token_count, or its time cannot be right. It returns the reason
// of calls_invalid, "" for a call that can be metered.
func (p *costProcessor) checkCall(span ptrace.Span, call *genaiconv.Call) string {
	if call.Invalid != "" {
		return invalidTokenCount
	}
	u := &call.Usage
	for _, c := range [...]struct {
		name string
		n    int64
	}{{"input", u.Input}, {"output", u.Output}, {"cache read", u.CacheRead}, {"cache write", u.CacheWrite},
		{"reasoning", u.Reasoning}, {"input audio", u.InputAudio}, {"output audio", u.OutputAudio}, {"1h cache write", u.CacheWrite1h}} {
		if c.n > p.cfg.Limits.MaxTokenCount {
			call.Invalid = fmt.Sprintf("%s tokens: token count %d above limits.max_token_count %d", c.name, c.n, p.cfg.Limits.MaxTokenCount)
			return invalidAboveBound
		}
	}
	start, end := span.StartTimestamp(), span.EndTimestamp()
	switch at := usage.CallTime(span); {
	case at == 0:
		call.Invalid = "time: the span has neither a start nor an end time"
	case start != 0 && end != 0 && end < start:
		call.Invalid = fmt.Sprintf("time: the span ends (%s) before it starts (%s)", stamp(end.AsTime()), stamp(start.AsTime()))
	case at.AsTime().After(p.now().Add(maxFuture)):
		call.Invalid = fmt.Sprintf("time: the span ends at %s, more than %s after the collector's clock (%s)",
			stamp(at.AsTime()), maxFuture, stamp(p.now()))
	default:
		return ""
	}
	if u.Reported {
		call.Invalid += fmt.Sprintf("; reported usage: input %d, output %d, cache read %d, cache write %d, reasoning %d",
			u.Input, u.Output, u.CacheRead, u.CacheWrite, u.Reasoning)
	}
	return invalidTime
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
