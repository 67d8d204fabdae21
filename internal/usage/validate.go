package usage

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/genaimeter/genaimeter/internal/money"
)

// ErrInvalidRecord marks a record that is not a usage record genaimeter could
// have written (see ValidateRecord): storing, streaming or billing it would put
// a wrong row in the ledger, and retrying it cannot help.
var ErrInvalidRecord = errors.New("invalid usage record")

// ValidateRecord reports why r cannot be a usage record written by genaimeter,
// or nil. Every sink of the genai_ledger exporter (SQLite, PostgreSQL, Kafka,
// files) and the genai_billing exporter call it on every record before they
// store or bill it, and dead-letter a record it refuses with its reason; the
// stores call it again before a write. It checks what the connector and the
// processor guarantee, so that a foreign log record that merely looks like a
// usage record (a made-up pricing status, an event id that is no span's, more
// cache reads than input) cannot reach the ledger or an invoice:
//   - event_id is the call's trace id + span id (48 lowercase hex digits), or
//     the content-derived id of a call without usable span ids (see
//     ContentEventID), which is flagged invalid_id in pricing_detail;
//   - trace_id and span_id, when set, are 32 and 16 lowercase hex digits and
//     make up event_id;
//   - pricing_status is one of the statuses; a cost is present exactly on a
//     priced call; a call with invalid usage is never billable and has no
//     revenue and no credits (a rate card that needs no cost may give an unpriced call one);
//   - token counts (every KindCount field) are >= 0, cache reads + writes <= input and reasoning <=
//     output (input and output are totals in the OTel GenAI conventions);
//   - every decimal field (cost_usd, reported_cost_usd, revenue_usd, ...: the
//     KindDecimal fields of Fields) is a finite, non-negative decimal in plain
//     notation, and every enumerated field one of its values;
//   - the time's year is within [0, 9999] (the text and SQL time types).
func ValidateRecord(r *Record) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch {
	case r.EventID == "":
		bad("event_id: must not be empty")
	case IsContentEventID(r.EventID):
		if !strings.HasPrefix(r.PricingDetail, FlagInvalidID) {
			bad("event_id: %q is derived from the call's content but pricing_detail does not flag %s", r.EventID, FlagInvalidID)
		}
	case !isLowerHex(r.EventID, 48):
		bad("event_id: want 48 lowercase hex digits (trace id + span id), got %q", clip(r.EventID))
	}
	if r.TraceID != "" && !isLowerHex(r.TraceID, 32) {
		bad("trace_id: want 32 lowercase hex digits, got %q", clip(r.TraceID))
	}
	if r.SpanID != "" && !isLowerHex(r.SpanID, 16) {
		bad("span_id: want 16 lowercase hex digits, got %q", clip(r.SpanID))
	}
	if isLowerHex(r.EventID, 48) && isLowerHex(r.TraceID, 32) && isLowerHex(r.SpanID, 16) && r.EventID != r.TraceID+r.SpanID {
		bad("event_id: %q is not trace_id + span_id (%s%s)", r.EventID, r.TraceID, r.SpanID)
	}

	switch r.PricingStatus {
	case StatusPriced:
		if r.CostUSD == "" {
			bad("cost_usd: missing on a priced call")
		}
	case StatusUnpriced, StatusNoUsage, StatusInvalidUsage:
		if r.CostUSD != "" {
			bad("cost_usd: cost %q on a call with status %q", clip(r.CostUSD), r.PricingStatus)
		}
		if r.PricingStatus == StatusInvalidUsage {
			if r.Billable {
				bad("billable: a call with status %q is never billable", StatusInvalidUsage)
			}
			if r.RevenueUSD != "" {
				bad("revenue_usd: revenue %q on a call with status %q", clip(r.RevenueUSD), r.PricingStatus)
			}
			if r.Credits != "" {
				bad("credits: credits %q on a call with status %q", clip(r.Credits), r.PricingStatus)
			}
		}
	case "":
		bad("pricing_status: must not be empty")
	default:
		bad("pricing_status: must be one of %s, got %q", strings.Join(Statuses, ", "), clip(r.PricingStatus))
	}

	// Every count, every decimal and every enumerated field of the table.
	for i := range fields {
		f := &fields[i]
		switch f.Kind {
		case KindCount:
			if n := *f.Int(r); n < 0 {
				bad("%s: must be >= 0, got %d", f.Name, n)
			}
		case KindDecimal:
			if v := *f.Str(r); v != "" && !money.IsPlain(v) {
				bad("%s: want a non-negative decimal in plain notation, got %q", f.Name, clip(v))
			}
		case KindText:
			if v := *f.Str(r); f.Values != nil && v != "" && !slices.Contains(f.Values, v) {
				bad("%s: must be one of %s, got %q", f.Name, strings.Join(f.Values, ", "), clip(v))
			}
		}
	}
	for _, p := range [...]struct {
		part, whole string
		n, of       int64
	}{{"input_audio_tokens", "input_tokens", r.InputAudioTokens, r.InputTokens},
		{"output_audio_tokens", "output_tokens", r.OutputAudioTokens, r.OutputTokens},
		{"cache_write_1h_tokens", "cache_write_tokens", r.CacheWrite1hTokens, r.CacheWriteTokens}} {
		if p.of >= 0 && p.n > p.of {
			bad("%s: %d above %s %d (a part of it)", p.part, p.n, p.whole, p.of)
		}
	}
	if r.CacheReadTokens >= 0 && r.CacheWriteTokens >= 0 {
		if r.CacheReadTokens > math.MaxInt64-r.CacheWriteTokens || r.CacheReadTokens+r.CacheWriteTokens > r.InputTokens {
			bad("cache_read_tokens: cache read %d + cache write %d above input_tokens %d (input includes the cache tokens)",
				r.CacheReadTokens, r.CacheWriteTokens, r.InputTokens)
		}
	}
	if r.OutputTokens >= 0 && r.ReasoningTokens > r.OutputTokens {
		bad("reasoning_tokens: %d above output_tokens %d (output includes reasoning)", r.ReasoningTokens, r.OutputTokens)
	}

	if y := r.Time.UTC().Year(); y < 0 || y > 9999 {
		bad("time: year %d out of range [0, 9999]", y)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalidRecord, errors.Join(errs...))
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clip shortens a hostile value quoted in an error (a dead-letter line and a
// log line must not grow with it).
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// The values of the enumerated fields (package variables: ValidateRecord
// runs on every record and must not build them each time).
var (
	completions     = []string{CompletionComplete, CompletionStopped, CompletionError, CompletionUnknown}
	reconciliations = []string{ReconcileMatches, ReconcileDiffers, ReconcileNone}
	costSources     = []string{CostSourceCatalog, CostSourceReported}
)

// ErrCountOverflow is a sum of token counts that int64 cannot hold.
var ErrCountOverflow = errors.New("token count sum overflows int64")

// AddCount adds n to *sum unless the result would overflow int64 (or n is
// negative: a count never is), so that a sum of token counts is exact or
// refused, never wrapped around to a negative number.
func AddCount(sum *int64, n int64) error {
	if n < 0 {
		return fmt.Errorf("token count %d: must be >= 0", n)
	}
	if *sum > math.MaxInt64-n {
		return fmt.Errorf("%w: %d + %d", ErrCountOverflow, *sum, n)
	}
	*sum += n
	return nil
}
