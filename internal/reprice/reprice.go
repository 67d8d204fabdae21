// Package reprice re-prices stored usage records under another price book
// or rate card: what cost and revenue would have been. It prices each record
// from its stored raw usage, provider, models, service tier and time with the
// same pricing.Book layering and time rules genai_cost used, and picks the
// rate card the way genai_cost does (tenant, then plan, then default), so that
// the same book and cards reproduce the stored cost and revenue exactly. It
// never writes: the ledger is read-only here.
package reprice

import (
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Options is the alternative.
type Options struct {
	Book *pricing.Book
	// Cards re-prices revenue; nil keeps each record's stored revenue.
	Cards *pricing.RateCards
	// At prices every call at this instant ("today's prices"); zero: at the
	// call's own time.
	At time.Time
}

// Key groups the report: tenant, model (provider/model) and feature.
type Key struct {
	Tenant, Model, Feature string
}

// Line is the now-and-alternative of one group.
type Line struct {
	Key
	Calls int64
	// Changed counts calls whose cost or revenue differs.
	Changed int64
	// Cost and revenue as stored (now) and under the alternative, over the
	// calls that have one; the unpriced on either side are counted, not 0.
	CostNow, CostAlt, RevenueNow, RevenueAlt apd.Decimal
	UnpricedNow, UnpricedAlt                 int64
}

// Diff returns CostAlt - CostNow and RevenueAlt - RevenueNow.
func (l *Line) Diff() (cost, revenue apd.Decimal) {
	_ = money.Sub(&cost, &l.CostAlt, &l.CostNow)
	_ = money.Sub(&revenue, &l.RevenueAlt, &l.RevenueNow)
	return cost, revenue
}

// Unpriceable is a call the alternative cannot price.
type Unpriceable struct {
	EventID string    `json:"event_id"`
	Time    time.Time `json:"time"`
	Tenant  string    `json:"tenant"`
	Model   string    `json:"model"`
	Reason  string    `json:"reason"`
}

// Outcome is what one record became.
type Outcome struct {
	Repriced         bool // false: no usage to price (no_usage, invalid_usage)
	Changed          bool // cost or revenue differs from the stored one
	CostAlt, RevAlt  string
	AltPriced        bool
	Reason           string // why the alternative did not price it
	ReportedCostKept bool   // billed at the provider's reported cost: kept
}

// Repricer accumulates records. Not safe for concurrent use.
type Repricer struct {
	opts  Options
	lines map[Key]*Line
	// Unpriceable lists every call the alternative cannot price.
	Unpriceable []Unpriceable
	// Records counts every record seen; Skipped those without usage to price,
	// by pricing status; ReportedKept those billed at a reported cost.
	Records      int64
	Skipped      map[string]int64
	ReportedKept int64

	q   pricing.Query
	res pricing.Result
}

// New returns a Repricer of opts.
func New(opts Options) (*Repricer, error) {
	if opts.Book == nil {
		return nil, fmt.Errorf("reprice: a price book is required")
	}
	return &Repricer{opts: opts, lines: map[Key]*Line{}, Skipped: map[string]int64{}}, nil
}

func add(dst, x *apd.Decimal) { _ = money.Add(dst, dst, x) }

// Add re-prices one record.
func (rp *Repricer) Add(r *usage.Record) (Outcome, error) {
	rp.Records++
	tenant := r.TenantID
	if tenant == "" {
		tenant = usage.Unattributed
	}
	k := Key{Tenant: tenant, Model: entitlement.ProviderOf(r) + "/" + entitlement.ModelOf(r), Feature: r.Feature}
	l := rp.lines[k]
	if l == nil {
		l = &Line{Key: k}
		rp.lines[k] = l
	}
	l.Calls++
	var out Outcome
	var costNow, revNow apd.Decimal
	hasCost, hasRev := r.CostUSD != "", r.RevenueUSD != ""
	if hasCost {
		var err error
		if costNow, err = money.Parse(r.CostUSD); err != nil {
			return out, fmt.Errorf("reprice: event %s: cost_usd: %w", r.EventID, err)
		}
		add(&l.CostNow, &costNow)
	} else {
		l.UnpricedNow++
	}
	if hasRev {
		var err error
		if revNow, err = money.Parse(r.RevenueUSD); err != nil {
			return out, fmt.Errorf("reprice: event %s: revenue_usd: %w", r.EventID, err)
		}
		add(&l.RevenueNow, &revNow)
	}
	if r.PricingStatus != usage.StatusPriced && r.PricingStatus != usage.StatusUnpriced {
		// No usage to price: nothing now, nothing under the alternative.
		rp.Skipped[r.PricingStatus]++
		if hasCost {
			add(&l.CostAlt, &costNow)
		} else {
			l.UnpricedAlt++
		}
		if hasRev {
			add(&l.RevenueAlt, &revNow)
		}
		return out, nil
	}
	out.Repriced = true
	var cost apd.Decimal
	switch {
	case r.CostSource == usage.CostSourceReported:
		// Billed at the provider's reported figure, as configured: no
		// catalog decides it, under any book.
		cost.Set(&costNow)
		out.AltPriced, out.ReportedCostKept = true, true
		rp.ReportedKept++
	default:
		rp.q = pricing.Query{Provider: r.Provider, ResponseModel: r.ResponseModel, RequestModel: r.RequestModel, At: r.Time, Tier: r.ServiceTier}
		if !rp.opts.At.IsZero() {
			rp.q.At = rp.opts.At
		}
		rp.q.Usage.SetCall(pricing.CallUsage{Input: r.InputTokens, Output: r.OutputTokens, CacheRead: r.CacheReadTokens,
			CacheWrite: r.CacheWriteTokens, Reasoning: r.ReasoningTokens, InputAudio: r.InputAudioTokens,
			OutputAudio: r.OutputAudioTokens, CacheWrite1h: r.CacheWrite1hTokens})
		rp.opts.Book.Price(&rp.q, &rp.res)
		if rp.res.Status == pricing.Priced {
			cost.Set(&rp.res.Cost)
			out.AltPriced = true
		} else {
			out.Reason = rp.res.Detail
		}
	}
	if out.AltPriced {
		add(&l.CostAlt, &cost)
		out.CostAlt = money.Format(&cost)
	} else {
		l.UnpricedAlt++
		rp.Unpriceable = append(rp.Unpriceable, Unpriceable{EventID: r.EventID, Tenant: tenant, Model: k.Model, Reason: out.Reason, Time: r.Time})
	}
	// Revenue: the call's card, as genai_cost chose it.
	var rev apd.Decimal
	hasAlt := hasRev
	if rp.opts.Cards == nil {
		rev.Set(&revNow)
	} else {
		hasAlt = false
		if rc := rp.opts.Cards.For(tenant, r.Plan); rc != nil && (out.AltPriced || !rc.NeedsCost()) {
			var u pricing.Usage
			u.SetCall(pricing.CallUsage{Input: r.InputTokens, Output: r.OutputTokens, CacheRead: r.CacheReadTokens,
				CacheWrite: r.CacheWriteTokens, Reasoning: r.ReasoningTokens, InputAudio: r.InputAudioTokens,
				OutputAudio: r.OutputAudioTokens, CacheWrite1h: r.CacheWrite1hTokens})
			if err := rc.Revenue(&u, &cost, &rev); err != nil {
				return out, fmt.Errorf("reprice: event %s: rate card %s: %w", r.EventID, rc.Name(), err)
			}
			hasAlt = true
		}
	}
	if hasAlt {
		add(&l.RevenueAlt, &rev)
		out.RevAlt = money.Format(&rev)
	}
	out.Changed = out.AltPriced != hasCost || (hasCost && out.AltPriced && cost.Cmp(&costNow) != 0) ||
		hasAlt != hasRev || (hasRev && hasAlt && rev.Cmp(&revNow) != 0)
	if out.Changed {
		l.Changed++
	}
	return out, nil
}

// Lines returns the groups by tenant, model and feature.
func (rp *Repricer) Lines() []Line {
	out := make([]Line, 0, len(rp.lines))
	for _, l := range rp.lines {
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		if a.Tenant != b.Tenant {
			return a.Tenant < b.Tenant
		}
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		return a.Feature < b.Feature
	})
	return out
}

// Totals sums every line.
func (rp *Repricer) Totals() Line {
	var t Line
	for _, l := range rp.lines {
		t.Calls += l.Calls
		t.Changed += l.Changed
		t.UnpricedNow += l.UnpricedNow
		t.UnpricedAlt += l.UnpricedAlt
		add(&t.CostNow, &l.CostNow)
		add(&t.CostAlt, &l.CostAlt)
		add(&t.RevenueNow, &l.RevenueNow)
		add(&t.RevenueAlt, &l.RevenueAlt)
	}
	return t
}
