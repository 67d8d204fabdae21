package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
)

// metered is what the metering steps decided about one call, as plain
// values; writeMeter puts it on the span.
//
// The call itself goes along beside it, not in it: a pointer held in a value
// that writeMeter hands to pdata would move every call to the heap.
type metered struct {
	// attribute: who made the call.
	id ancestry.Identity
	// price: the pricing status and its detail (for a priced call, the notes
	// finance should read), the catalog's answer with the billed cost in
	// priced.Cost (the reported one for a trusted provider), where that cost
	// comes from, how it compares with the reported cost, the service tier,
	// and the price reference that lets the call be re-priced.
	status, detail string
	priced         pricing.Result
	costSource     string
	reconciliation string
	tier           string
	priceRef       string
	// partial: stopped before its end and priced from what it reported.
	partial bool
	// decide: the tenant's plan (billability is decided by the rules on the
	// span as written, see writeMeter).
	plan string
	// charge: the revenue from the tenant's or the plan's rate card, and
	// its exact credits on a card in credits.
	revenue, credits string
}

// statusInvalid marks a call that cannot be metered (checkCall).
const statusInvalid = usage.StatusInvalidUsage

// writeMeter is the one writer of the genaimeter.* attributes. A span metered
// again (a replay) loses the values that no longer apply. decide makes the
// billing decision: the billing rules read the span as metered, so it is
// called once every other attribute is written, and its outcome is written
// last.
//
// An invalid call (statusInvalid) keeps who made it and with which model,
// carries no usage (every count 0: the reason in pricing_detail says what the
// span claimed), no cost, no revenue, and is not billable: finance finds it
// under pricing_status invalid_usage instead of nowhere. decide is not called.
func writeMeter(attrs pcommon.Map, call *genaiconv.Call, m *metered, decide func() *decision) {
	// At most usage.SpanAttrs attributes follow: the span's attribute slice
	// is grown once, not doubled several times per call.
	attrs.EnsureCapacity(attrs.Len() + usage.SpanAttrs)
	attrs.PutStr(usage.AttrTenantID, m.id[idTenant])
	putNonEmpty(attrs, usage.AttrUserID, m.id[idUser])
	putNonEmpty(attrs, usage.AttrSessionID, m.id[idSession])
	putNonEmpty(attrs, usage.AttrFeature, m.id[idFeature])
	putNonEmpty(attrs, usage.AttrProvider, call.Provider)
	putNonEmpty(attrs, usage.AttrOperation, call.Operation)
	putNonEmpty(attrs, usage.AttrRequestModel, call.RequestModel)
	putNonEmpty(attrs, usage.AttrResponseModel, call.ResponseModel)
	putOrRemove(attrs, usage.AttrCompletion, call.Completion)
	if m.status == statusInvalid {
		for _, k := range [...]string{usage.AttrInputTokens, usage.AttrOutputTokens, usage.AttrCacheReadTokens,
			usage.AttrCacheWriteTokens, usage.AttrReasoningTokens, usage.AttrInputAudioTokens, usage.AttrOutputAudioTokens,
			usage.AttrCacheWrite1hTokens} {
			attrs.PutInt(k, 0)
		}
		for _, k := range [...]string{usage.AttrCostUSD, usage.AttrCatalogProvider, usage.AttrCatalogModel, usage.AttrPriceRef,
			usage.AttrRevenueUSD, usage.AttrCostSource, usage.AttrCostReconciliation, usage.AttrTokenConvention,
			usage.AttrReportedCostUSD, usage.AttrServiceTier, usage.AttrPlan, usage.AttrCredits} {
			attrs.Remove(k)
		}
		attrs.PutStr(usage.AttrPricingStatus, statusInvalid)
		attrs.PutStr(usage.AttrPricingDetail, call.Invalid)
		attrs.PutBool(usage.AttrBillable, false)
		attrs.PutStr(usage.AttrBillableReason, statusInvalid)
		return
	}
	attrs.PutInt(usage.AttrInputTokens, call.Usage.Input)
	attrs.PutInt(usage.AttrOutputTokens, call.Usage.Output)
	attrs.PutInt(usage.AttrCacheReadTokens, call.Usage.CacheRead)
	attrs.PutInt(usage.AttrCacheWriteTokens, call.Usage.CacheWrite)
	attrs.PutInt(usage.AttrReasoningTokens, call.Usage.Reasoning)
	// The audio and 1h parts are written when not 0 (the record reads an
	// absent one as 0): each attribute is an allocation, and most calls have
	// neither.
	putOrRemoveInt(attrs, usage.AttrInputAudioTokens, call.Usage.InputAudio)
	putOrRemoveInt(attrs, usage.AttrOutputAudioTokens, call.Usage.OutputAudio)
	putOrRemoveInt(attrs, usage.AttrCacheWrite1hTokens, call.Usage.CacheWrite1h)
	putNonEmpty(attrs, usage.AttrTokenConvention, call.TokenConvention)
	putNonEmpty(attrs, usage.AttrReportedCostUSD, call.ReportedCost)
	attrs.PutStr(usage.AttrCostReconciliation, m.reconciliation)
	attrs.PutStr(usage.AttrPricingStatus, m.status)
	putOrRemove(attrs, usage.AttrCostSource, m.costSource)
	if m.status == usage.StatusPriced {
		putOrRemove(attrs, usage.AttrCatalogProvider, m.priced.ProviderID)
		putOrRemove(attrs, usage.AttrCatalogModel, m.priced.ModelID)
		attrs.PutStr(usage.AttrCostUSD, money.Format(&m.priced.Cost))
		putOrRemove(attrs, usage.AttrPricingDetail, m.detail)
	} else {
		attrs.PutStr(usage.AttrPricingDetail, m.detail)
	}
	putOrRemove(attrs, usage.AttrServiceTier, m.tier)
	putOrRemove(attrs, usage.AttrPriceRef, m.priceRef)
	putOrRemove(attrs, usage.AttrPlan, m.plan)
	putOrRemove(attrs, usage.AttrRevenueUSD, m.revenue)
	putOrRemove(attrs, usage.AttrCredits, m.credits)
	d := decide()
	attrs.PutBool(usage.AttrBillable, d.billable)
	attrs.PutStr(usage.AttrBillableReason, d.reason)
}

// putOrRemove writes a value that is not empty; a span metered again (a
// replay) loses a stale one.
func putOrRemove(m pcommon.Map, k, v string) {
	if v == "" {
		m.Remove(k)
		return
	}
	m.PutStr(k, v)
}

// putOrRemoveInt writes a count that is not 0; a span metered again (a
// replay) loses a stale one.
func putOrRemoveInt(m pcommon.Map, k string, v int64) {
	if v == 0 {
		m.Remove(k)
		return
	}
	m.PutInt(k, v)
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}
