package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// price is the metering step that prices a call from the usage it reports
// with the current book, compares the cost it reports with ours (billing the
// reported one instead for a provider the configuration trusts; the record
// says which), and says what finance should read about a priced call: the
// notes of its pricing_detail and the price reference that lets it be
// re-priced.
func (p *costProcessor) price(span ptrace.Span, call *genaiconv.Call, m *metered) {
	m.tier = p.pricer.tierOf(span.Attributes())
	m.status, m.detail = usage.StatusNoUsage, noUsageDetail(call)
	priced := &m.priced
	if call.Usage.Reported {
		q := pricing.Query{
			Provider:      call.Provider,
			ResponseModel: call.ResponseModel,
			RequestModel:  call.RequestModel,
			At:            callTime(span),
			Tier:          m.tier,
		}
		setUsage(&q.Usage, call.Usage)
		p.pricer.Price(&q, priced)
		if priced.Status == pricing.Priced {
			m.status, m.detail = usage.StatusPriced, ""
		} else {
			m.status, m.detail = usage.StatusUnpriced, priced.Detail
		}
	}
	var reported apd.Decimal
	dec := p.reconciler.reconcile(call, priced, &reported)
	m.reconciliation = dec.status
	switch {
	case dec.reported:
		priced.Cost.Set(&reported)
		m.status, m.detail = usage.StatusPriced, ""
		m.costSource = usage.CostSourceReported
	case m.status == usage.StatusPriced:
		m.costSource = usage.CostSourceCatalog
	}
	if m.status != usage.StatusPriced {
		return
	}
	m.partial = call.Completion == genaiconv.CompletionStopped
	var notes []string
	switch {
	case m.partial:
		notes = append(notes, partialDetail(call))
	case call.Completion == genaiconv.CompletionUnknown && call.CompletionDetail != "":
		// Priced, but nobody can tell whether the call ran to its end.
		notes = append(notes, call.CompletionDetail)
	}
	if dec.note != "" {
		notes = append(notes, dec.note)
	}
	if priced.Status == pricing.Priced {
		m.priceRef = priced.Ref
		if priced.DiscountRef != "" {
			m.priceRef += " " + priced.DiscountRef
		}
		if priced.Normalized != "" {
			notes = append(notes, "model name: "+priced.Normalized)
		}
		if priced.ProviderNote != "" {
			// A call of an unknown provider priced as a known model: say
			// whose price it is and why, not silently OpenAI's.
			notes = append(notes, priced.ProviderNote)
		}
		if m.tier != "" && priced.Tier != m.tier {
			notes = append(notes, "service tier "+m.tier+" has no price in the catalog entry: standard price charged")
		}
	}
	m.detail = strings.Join(notes, "; ")
}

// charge is the metering step that computes what the customer is charged for
// a call: the revenue from the rate card of its tenant, else of its plan,
// else the default card, and its credits when the card's rates are in
// credits. A card that needs our cost charges priced calls
// only; a card of rates charges any call that reports usage.
func (p *costProcessor) charge(call *genaiconv.Call, m *metered) {
	rc := p.pricer.card(m.id[idTenant], m.plan)
	if rc == nil || !(call.Usage.Reported || m.status == usage.StatusPriced) || (m.status != usage.StatusPriced && rc.NeedsCost()) {
		return
	}
	var u pricing.Usage
	setUsage(&u, call.Usage)
	var out, credits apd.Decimal
	hasCredits, err := rc.Charge(&u, &m.priced.Cost, &out, &credits)
	if err != nil {
		m.detail = "revenue not computed with rate card " + rc.Name() + ": " + err.Error()
		return
	}
	m.revenue = money.Format(&out)
	if hasCredits {
		m.credits = money.Format(&credits)
	}
}

// noUsageDetail says why a call has no usage, for finance: a stopped call,
// or an instrumentation that never reports usage on such calls.
func noUsageDetail(call *genaiconv.Call) string {
	d := "the span reports no token usage"
	if call.Completion == genaiconv.CompletionStopped {
		d += "; the call was stopped before its end"
	}
	if call.CompletionDetail != "" {
		d += "; " + call.CompletionDetail
	}
	return d
}

// partialDetail is the pricing detail of a stopped call priced from the
// usage it reported before it stopped.
func partialDetail(call *genaiconv.Call) string {
	d := "partial: the call was stopped before its end; priced from the usage reported until then (a lower bound)"
	if call.CompletionDetail != "" {
		d += "; " + call.CompletionDetail
	}
	return d
}

// setUsage converts semconv token counts into the catalog's usage keys. Both
// count input as the total including cache reads and writes, and output as
// including reasoning (and audio: input_audio_tokens is a part of
// input_tokens, cache_write_1h_tokens of cache_write_tokens).
//
// The conversion lives in package pricing (Usage.SetCall) so that
// genaimeter reprice prices a stored record exactly as this span was priced.
func setUsage(u *pricing.Usage, c genaiconv.Usage) {
	u.SetCall(pricing.CallUsage{Input: c.Input, Output: c.Output, CacheRead: c.CacheRead, CacheWrite: c.CacheWrite,
		Reasoning: c.Reasoning, InputAudio: c.InputAudio, OutputAudio: c.OutputAudio, CacheWrite1h: c.CacheWrite1h})
}

// callTime is when the call happened for pricing (see usage.CallTime).
func callTime(span ptrace.Span) time.Time { return usage.CallTime(span).AsTime() }
