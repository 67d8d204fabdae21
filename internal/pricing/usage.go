package pricing

import "fmt"

// Usage is the usage of one call in genai-prices semantics: input_tokens is the
// TOTAL input, including cache-read and cache-write tokens (which are also
// reported on their own to get their own rates); output_tokens includes
// reasoning tokens. A key that was never set is absent, which differs from 0
// (the reference refuses to derive an absent total from positive details).
//
// The zero value is empty and ready to use. Usage is a plain value: no
// allocation to build, copy or reset it.
type Usage struct {
	present uint64
	v       [maxUnits]int64
}

// Set records the count for any usage key of the unit table except
// "requests" (every call is priced as exactly one request, as the reference does).
func (u *Usage) Set(key string, n int64) error {
	i, ok := units.byKey[key]
	if !ok {
		return fmt.Errorf("unknown usage key %q", key)
	}
	if i == uRequests {
		return fmt.Errorf("usage key %q cannot be set: each call is priced as one request", key)
	}
	if n < 0 {
		return fmt.Errorf("usage %s = %d: counts must not be negative", key, n)
	}
	u.set(i, n)
	return nil
}

// Get returns the count for key and whether it was set.
func (u *Usage) Get(key string) (int64, bool) {
	i, ok := units.byKey[key]
	if !ok || u.present&(1<<i) == 0 {
		return 0, false
	}
	return u.v[i], true
}

// Reset empties u.
func (u *Usage) Reset() { *u = Usage{} }

// IsEmpty reports whether no key was set.
func (u *Usage) IsEmpty() bool { return u.present == 0 }

// Keys lists the keys that were set, in unit-table order.
func (u *Usage) Keys() []string {
	var out []string
	for i := range units.units {
		if u.present&(1<<i) != 0 {
			out = append(out, units.units[i].key)
		}
	}
	return out
}

func (u *Usage) set(i int, n int64) {
	u.v[i] = n
	u.present |= 1 << i
}

// Typed setters for the keys the processor fills on every span. They do not
// validate: a negative count is reported by Price as InvalidUsage.

// SetInputTokens sets input_tokens: the total input, cache read/write included.
func (u *Usage) SetInputTokens(n int64) { u.set(uInput, n) }

// SetCacheReadTokens sets cache_read_tokens (part of input_tokens).
func (u *Usage) SetCacheReadTokens(n int64) { u.set(uCacheRead, n) }

// SetCacheWriteTokens sets cache_write_tokens (part of input_tokens; includes
// cache_write_1h_tokens when both are given).
func (u *Usage) SetCacheWriteTokens(n int64) { u.set(uCacheWrite, n) }

// SetCacheWrite1hTokens sets cache_write_1h_tokens (part of cache_write_tokens).
func (u *Usage) SetCacheWrite1hTokens(n int64) { u.set(uCacheWrite1h, n) }

// SetOutputTokens sets output_tokens: the total output, reasoning included.
func (u *Usage) SetOutputTokens(n int64) { u.set(uOutput, n) }

// SetOutputReasoningTokens sets output_reasoning_tokens (part of output_tokens).
func (u *Usage) SetOutputReasoningTokens(n int64) { u.set(uOutputReasoning, n) }

// SetInputAudioTokens sets input_audio_tokens (part of input_tokens).
func (u *Usage) SetInputAudioTokens(n int64) { u.set(uInputAudio, n) }

// SetOutputAudioTokens sets output_audio_tokens (part of output_tokens).
func (u *Usage) SetOutputAudioTokens(n int64) { u.set(uOutputAudio, n) }
