package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"strings"

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
	var cost string
	if m.status == usage.StatusPriced {
		cost = money.Format(&m.priced.Cost)
	}
	// The writes are counted first, so that the span's attribute slice is
	// grown once, to the size it ends with: not doubled several times per
	// call, nor sized for every attribute genai_cost may write (usage.SpanAttrs,
	// a third more than a call's usual writes).
	count := meterWriter{counting: true}
	count.meter(call, m, cost)
	attrs.EnsureCapacity(attrs.Len() + count.n)
	// A span that arrives metered (a replay, a second genai_cost) loses,
	// once this metering is written, every genaimeter.* value it did not
	// write: a stale cost or catalog model next to an unpriced status would
	// be a wrong number on an invoice. Only such a span has its writes
	// tracked; one metered for the first time (almost every one) pays for
	// nothing but the scan in hasMeter. The sweep runs before decide: the
	// billing rules see this metering only, never a stale billable or cost.
	w := meterWriter{attrs: attrs, track: hasMeter(attrs)}
	w.meter(call, m, cost)
	w.sweep()
	if m.status == statusInvalid {
		return
	}
	d := decide()
	w.flag(usage.AttrBillable, d.billable)
	w.str(usage.AttrBillableReason, d.reason)
}

// meter writes (or counts) the attributes of a metering up to the billing
// decision; an invalid call's decision too (it is not billable). cost is the
// formatted cost of a priced call.
func (w *meterWriter) meter(call *genaiconv.Call, m *metered, cost string) {
	w.str(usage.AttrTenantID, m.id[idTenant])
	w.nonEmpty(usage.AttrUserID, m.id[idUser])
	w.nonEmpty(usage.AttrSessionID, m.id[idSession])
	w.nonEmpty(usage.AttrFeature, m.id[idFeature])
	w.nonEmpty(usage.AttrProvider, call.Provider)
	w.nonEmpty(usage.AttrOperation, call.Operation)
	w.nonEmpty(usage.AttrRequestModel, call.RequestModel)
	w.nonEmpty(usage.AttrResponseModel, call.ResponseModel)
	w.nonEmpty(usage.AttrCompletion, call.Completion)
	if m.status == statusInvalid {
		for _, k := range [...]string{usage.AttrInputTokens, usage.AttrOutputTokens, usage.AttrCacheReadTokens,
			usage.AttrCacheWriteTokens, usage.AttrReasoningTokens, usage.AttrInputAudioTokens, usage.AttrOutputAudioTokens,
			usage.AttrCacheWrite1hTokens} {
			w.int(k, 0)
		}
		w.str(usage.AttrPricingStatus, statusInvalid)
		w.str(usage.AttrPricingDetail, call.Invalid)
		w.flag(usage.AttrBillable, false)
		w.str(usage.AttrBillableReason, statusInvalid)
		return
	}
	w.int(usage.AttrInputTokens, call.Usage.Input)
	w.int(usage.AttrOutputTokens, call.Usage.Output)
	w.int(usage.AttrCacheReadTokens, call.Usage.CacheRead)
	w.int(usage.AttrCacheWriteTokens, call.Usage.CacheWrite)
	w.int(usage.AttrReasoningTokens, call.Usage.Reasoning)
	// The audio and 1h parts are written when not 0 (the record reads an
	// absent one as 0): each attribute is an allocation, and most calls have
	// neither.
	w.nonZero(usage.AttrInputAudioTokens, call.Usage.InputAudio)
	w.nonZero(usage.AttrOutputAudioTokens, call.Usage.OutputAudio)
	w.nonZero(usage.AttrCacheWrite1hTokens, call.Usage.CacheWrite1h)
	w.nonEmpty(usage.AttrTokenConvention, call.TokenConvention)
	w.nonEmpty(usage.AttrReportedCostUSD, call.ReportedCost)
	w.str(usage.AttrCostReconciliation, m.reconciliation)
	w.str(usage.AttrPricingStatus, m.status)
	w.nonEmpty(usage.AttrCostSource, m.costSource)
	if m.status == usage.StatusPriced {
		w.nonEmpty(usage.AttrCatalogProvider, m.priced.ProviderID)
		w.nonEmpty(usage.AttrCatalogModel, m.priced.ModelID)
		w.str(usage.AttrCostUSD, cost)
		w.nonEmpty(usage.AttrPricingDetail, m.detail)
	} else {
		w.str(usage.AttrPricingDetail, m.detail)
	}
	w.nonEmpty(usage.AttrServiceTier, m.tier)
	w.nonEmpty(usage.AttrPriceRef, m.priceRef)
	w.nonEmpty(usage.AttrPlan, m.plan)
	w.nonEmpty(usage.AttrRevenueUSD, m.revenue)
	w.nonEmpty(usage.AttrCredits, m.credits)
	// The billing decision follows (writeMeter): counted here.
	w.n += 2
}

// meterWriter writes the genaimeter.* attributes of one metering. With
// track set (the span arrived metered) it notes each key it writes, and
// sweep removes the span's other genaimeter.* keys of the usage field
// table: values from an earlier metering. It is the one place stale values
// go: a value left unwritten (empty, 0, or not part of an invalid call) is
// simply not written, and a span metered for the first time has none to
// remove, so no write pays for a Remove's scan of the attributes. Keys
// outside the table and all other attributes are left alone. Tracking is a
// bit per key: no allocation, and the values written over are updated in
// place.
type meterWriter struct {
	attrs   pcommon.Map
	track   bool
	written uint64
	// counting: the writes are only counted, in n.
	counting bool
	n        int
}

// spanKeyBits gives each attribute key genai_cost writes on a span (the
// usage fields OnSpan) its bit in meterWriter.written.
var spanKeyBits = func() map[string]uint64 {
	bits := make(map[string]uint64, usage.SpanAttrs)
	for _, f := range usage.Fields() {
		if f.OnSpan {
			if len(bits) == 64 {
				panic("genai_cost: more than 64 span attributes for meterWriter.written")
			}
			bits[f.Key] = 1 << len(bits)
		}
	}
	return bits
}()

// hasMeter reports whether the span carries a genaimeter.* attribute of the
// field table already: a span metered before.
func hasMeter(attrs pcommon.Map) bool {
	for k := range attrs.All() {
		if strings.HasPrefix(k, usage.Prefix) && spanKeyBits[k] != 0 {
			return true
		}
	}
	return false
}

func (w *meterWriter) note(k string) {
	if w.track {
		w.written |= spanKeyBits[k]
	}
}

// sweep removes what an earlier metering wrote and this one did not.
func (w *meterWriter) sweep() {
	if !w.track {
		return
	}
	w.attrs.RemoveIf(func(k string, _ pcommon.Value) bool {
		if !strings.HasPrefix(k, usage.Prefix) {
			return false
		}
		bit := spanKeyBits[k]
		return bit != 0 && w.written&bit == 0
	})
}

func (w *meterWriter) str(k, v string) {
	if w.counting {
		w.n++
		return
	}
	w.attrs.PutStr(k, v)
	w.note(k)
}

func (w *meterWriter) int(k string, v int64) {
	if w.counting {
		w.n++
		return
	}
	w.attrs.PutInt(k, v)
	w.note(k)
}

func (w *meterWriter) flag(k string, v bool) {
	if w.counting {
		w.n++
		return
	}
	w.attrs.PutBool(k, v)
	w.note(k)
}

// nonZero writes a count that is not 0; sweep removes a stale one.
func (w *meterWriter) nonZero(k string, v int64) {
	if v != 0 {
		w.int(k, v)
	}
}

// nonEmpty writes a value that is not empty; sweep removes a stale one.
func (w *meterWriter) nonEmpty(k, v string) {
	if v != "" {
		w.str(k, v)
	}
}
