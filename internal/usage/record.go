// Package usage defines the usage record: the one row per metered GenAI call that
// the connector emits and the exporter stores. It is also the attribute schema the
// processor writes onto spans, so that the three components agree on one set of
// names and the connector converts without re-reading any instrumentation dialect.
package usage

import (
	"encoding/binary"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Attribute keys. The processor writes them on the metered span; the connector
// copies them onto the usage log record (with the identity and timing fields it
// derives from the span itself). Every key sits under the "genaimeter." prefix so
// it never collides with an instrumentation's own attributes.
const (
	Prefix = "genaimeter."

	AttrEventID          = Prefix + "event_id"
	AttrTenantID         = Prefix + "tenant_id"
	AttrUserID           = Prefix + "user_id"
	AttrSessionID        = Prefix + "session_id"
	AttrFeature          = Prefix + "feature"
	AttrServiceName      = Prefix + "service_name"
	AttrEnvironment      = Prefix + "environment"
	AttrProvider         = Prefix + "provider"
	AttrOperation        = Prefix + "operation"
	AttrRequestModel     = Prefix + "request_model"
	AttrResponseModel    = Prefix + "response_model"
	AttrCatalogProvider  = Prefix + "catalog_provider"
	AttrCatalogModel     = Prefix + "catalog_model"
	AttrInputTokens      = Prefix + "input_tokens"
	AttrOutputTokens     = Prefix + "output_tokens"
	AttrCacheReadTokens  = Prefix + "cache_read_tokens"
	AttrCacheWriteTokens = Prefix + "cache_write_tokens"
	AttrReasoningTokens  = Prefix + "reasoning_tokens"
	// AttrInputAudioTokens and AttrOutputAudioTokens are the audio parts of the
	// input and output tokens; AttrCacheWrite1hTokens the part of the cache
	// writes made with a one-hour TTL. Each is priced at its own rate.
	AttrInputAudioTokens   = Prefix + "input_audio_tokens"
	AttrOutputAudioTokens  = Prefix + "output_audio_tokens"
	AttrCacheWrite1hTokens = Prefix + "cache_write_1h_tokens"
	AttrCostUSD            = Prefix + "cost_usd"
	AttrReportedCostUSD    = Prefix + "reported_cost_usd"
	AttrRevenueUSD         = Prefix + "revenue_usd"
	AttrPriceRef           = Prefix + "price_ref"
	AttrServiceTier        = Prefix + "service_tier"
	AttrPlan               = Prefix + "plan"
	AttrTokenConvention    = Prefix + "token_convention"
	AttrPricingStatus      = Prefix + "pricing_status"
	AttrPricingDetail      = Prefix + "pricing_detail"
	AttrBillable           = Prefix + "billable"
	AttrBillableReason     = Prefix + "billable_reason"
	AttrTraceID            = Prefix + "trace_id"
	AttrSpanID             = Prefix + "span_id"
	// AttrCompletion says whether the call ran to its end (Completion*).
	AttrCompletion = Prefix + "completion"
	// AttrCostReconciliation compares the cost we computed with the one the
	// provider or instrumentation reported (Reconcile*).
	AttrCostReconciliation = Prefix + "cost_reconciliation"
	// AttrCostSource says where cost_usd comes from (CostSource*).
	AttrCostSource = Prefix + "cost_source"
	// AttrCredits is the call's credits on a rate card in credits.
	AttrCredits = Prefix + "credits"
)

// EventName is the log record event name of a usage record.
const EventName = "genaimeter.usage"

// Pricing statuses. A call is either priced (CostUSD set) or carries one of the
// other statuses and no cost: it is never priced at a silent zero.
const (
	StatusPriced   = "priced"
	StatusUnpriced = "unpriced" // the model (or provider) is not in the catalog
	StatusNoUsage  = "no_usage" // the span reports no token usage at all
	// StatusInvalidUsage: the call's usage or time cannot be right (a
	// negative, non-numeric or out-of-bound token count, an end before its
	// start...). The call is recorded, without a cost and not billable, with
	// the reason in pricing_detail, so that finance sees it.
	StatusInvalidUsage = "invalid_usage"
)

// Completion values: whether a call ran to its end, from the signals its
// emitter leaves (see genaiconv.Call.Completion).
const (
	CompletionComplete = "complete"
	// CompletionStopped: the call was cut off (a stream aborted by the
	// client). Its usage, if any, is a lower bound.
	CompletionStopped = "stopped"
	CompletionError   = "error"
	CompletionUnknown = "unknown"
)

// Cost reconciliation values: how the cost we computed compares with the
// cost the provider or the instrumentation reported.
const (
	ReconcileMatches = "matches" // both known, within the configured tolerance
	ReconcileDiffers = "differs" // both known, apart by more than the tolerance
	ReconcileNone    = "none"    // one of the two is missing: nothing to compare
)

// Cost sources: where cost_usd comes from.
const (
	// CostSourceCatalog: priced by genaimeter from the price catalog.
	CostSourceCatalog = "catalog"
	// CostSourceReported: the figure the provider reported, because the
	// configuration trusts that provider's cost (pricing.reported_cost).
	CostSourceReported = "reported"
)

// Billable reasons set by the meter itself rather than by a billing rule.
const (
	// ReasonPartial: a call stopped before its end, billed from the usage it
	// reported (a lower bound), when no billing rule decided otherwise.
	ReasonPartial = "partial"
)

// Statuses are every valid pricing status.
var Statuses = []string{StatusPriced, StatusUnpriced, StatusNoUsage, StatusInvalidUsage}

// Unattributed is the tenant of a call whose tenant could not be found.
const Unattributed = "unattributed"

// Record is one metered GenAI call. Token counts follow the OTel GenAI semantic
// conventions: InputTokens is the total input including cache reads and writes,
// OutputTokens includes reasoning tokens.
type Record struct {
	EventID         string
	Time            time.Time
	TenantID        string
	UserID          string
	SessionID       string
	Feature         string
	ServiceName     string
	Environment     string
	Provider        string
	Operation       string
	RequestModel    string
	ResponseModel   string
	CatalogProvider string
	CatalogModel    string

	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	ReasoningTokens  int64
	// InputAudioTokens and OutputAudioTokens are the audio parts of
	// InputTokens and OutputTokens; CacheWrite1hTokens is the part of
	// CacheWriteTokens written with a one-hour TTL. Stored so that a record
	// can be re-priced from its raw usage.
	InputAudioTokens   int64
	OutputAudioTokens  int64
	CacheWrite1hTokens int64

	// CostUSD is the exact decimal cost in USD as text (for example "0.000135"),
	// empty when the call is not priced.
	CostUSD string
	// ReportedCostUSD is the cost the instrumentation itself reported, if any,
	// kept beside ours so that the two can be reconciled.
	ReportedCostUSD string
	// CostReconciliation compares CostUSD's catalog price with
	// ReportedCostUSD: matches, differs or none (Reconcile*).
	CostReconciliation string
	// CostSource says where CostUSD comes from: catalog, or reported when the
	// configuration trusts the provider's figure. Empty when not priced.
	CostSource string
	// RevenueUSD is what the customer is charged for the call, from the rate
	// card of its plan or tenant, as exact decimal text; empty when no rate
	// card applies or the call is not priced.
	RevenueUSD string
	// PriceRef names the price that was applied (catalog source, version and
	// entry), so that any record can be re-priced later.
	PriceRef string
	// ServiceTier is the provider's service tier of the call (e.g. "flex",
	// "priority", "batch"), when priced differently from the default.
	ServiceTier string
	// Plan is the tenant's plan.
	Plan string
	// TokenConvention says how the emitter's input count was read: inclusive
	// of cache tokens (semconv), exclusive, or exclusive_detected.
	TokenConvention string
	PricingStatus   string
	// Completion says whether the call ran to its end: complete, stopped,
	// error or unknown; empty when the emitter leaves no signal.
	Completion string
	// PricingDetail says why a call is not priced (or how it was), for humans.
	PricingDetail string

	Billable       bool
	BillableReason string

	TraceID string // 32 lowercase hex digits
	SpanID  string // 16 lowercase hex digits

	// Credits is what the call costs the customer in credits, as exact
	// decimal text, when its rate card's rates are in credits
	// (usd_per_credit; RevenueUSD is then Credits × usd_per_credit); empty
	// on a card in USD, or when no card applies. Plans' credits allowances
	// count it (a record without it: RevenueUSD × the plan's
	// credits_per_usd).
	Credits string
}

// EventID derives the idempotency key of a call from its span identity, so that a
// replayed span (an exporter retry, a duplicated batch) maps onto the same record.
func EventID(traceID pcommon.TraceID, spanID pcommon.SpanID) string {
	var buf [48]byte
	for i, b := range traceID {
		binary.LittleEndian.PutUint16(buf[2*i:], hexPairs[b])
	}
	for i, b := range spanID {
		binary.LittleEndian.PutUint16(buf[32+2*i:], hexPairs[b])
	}
	return string(buf[:])
}

// hexPairs is each byte's two lowercase hex digits, the first in the low
// byte, so EventID writes a byte's digits with one table load and one
// two-byte store. It runs for every record the connector writes, where
// hex.Encode's digit-at-a-time loop was 3.5% of the instructions.
var hexPairs = func() (t [256]uint16) {
	const digits = "0123456789abcdef"
	for b := range t {
		t[b] = uint16(digits[b>>4]) | uint16(digits[b&0xf])<<8
	}
	return t
}()

// CallTime is when a call happened, for pricing and for its record: the span's
// end, as providers bill at completion; a span without an end time falls back
// to its start. The processor and the connector share it so that a record's
// time is always the time its price was taken at.
func CallTime(span ptrace.Span) pcommon.Timestamp {
	if ts := span.EndTimestamp(); ts != 0 {
		return ts
	}
	return span.StartTimestamp()
}
