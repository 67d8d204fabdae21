package pricing

import (
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/genaimeter/genaimeter/internal/money"
)

// Status says whether a call was priced.
type Status uint8

const (
	// StatusUnset is the zero value: Price has not filled the Result.
	StatusUnset Status = iota
	// Priced: Cost is the exact cost of the call.
	Priced
	// UnknownModel: no catalog model matches (including an unknown or empty
	// provider whose model no provider's model_match accepts). There is no
	// cost — it is never reported as 0.
	UnknownModel
	// InvalidUsage: the model is known but the usage cannot be priced
	// (negative counts, a detail exceeding its total, a missing total with
	// positive details, no call time).
	InvalidUsage
)

func (s Status) String() string {
	switch s {
	case Priced:
		return "priced"
	case UnknownModel:
		return "unknown_model"
	case InvalidUsage:
		return "invalid_usage"
	}
	return "unset"
}

// Query is one call to price.
type Query struct {
	// Provider is the provider name as reported (e.g. "openai", "aws.bedrock");
	// empty or unknown falls back to the providers' model_match rules.
	Provider string
	// ResponseModel is tried first, then RequestModel.
	ResponseModel, RequestModel string
	// At is when the call happened; dated and time-of-day prices are chosen
	// for this instant. Required: a zero At is InvalidUsage, never "now".
	At    time.Time
	Usage Usage
	// Tier is the provider's service tier of the call ("flex", "priority",
	// "batch"; "", "default", "auto" and "standard" are the standard tier).
	// The catalog's tier price applies when it has one; Result.Tier says.
	Tier string
}

// Result is the outcome of Price.
type Result struct {
	Status      Status
	ProviderID  string // catalog provider that matched
	ModelID     string // catalog model that matched
	MatchedName string // the query model name that matched (response or request model)
	Cost        apd.Decimal
	Detail      string // why the call was not priced

	// Ref names the price entry applied: "source@version#provider/model",
	// "[i]" for the i-th of dated entries, "~tier" for a service tier. With
	// the record's raw usage it is enough to re-price the call later.
	Ref string
	// Tier is the service tier whose price applied ("" standard). It differs
	// from the query's when the catalog has no price for that tier: the
	// standard price is charged then.
	Tier string
	// DiscountRef names the negotiated discount applied (Book only).
	DiscountRef string
	// Normalized says how the model name was read when it was not matched as
	// given (Book only): "provider prefix openai/ removed", "fine-tune ...
	// priced as its base model ...".
	Normalized string
	// Source is the catalog source that priced the call (Book only).
	Source string
	// ProviderNote says why ProviderID priced the call when the query named
	// a provider the catalog does not know: "provider
	// \"strands-agents\" is not in the catalog: priced by openai, whose
	// model_match accepts \"gpt-4o\"". Empty when the query's provider
	// matched or none was named.
	ProviderNote string
}

func (r *Result) reset() {
	r.Status, r.ProviderID, r.ModelID, r.MatchedName, r.Detail = StatusUnset, "", "", "", ""
	r.Ref, r.Tier, r.DiscountRef, r.Normalized, r.Source, r.ProviderNote = "", "", "", "", "", ""
	r.Cost.SetInt64(0)
}

// maxCount is the largest usage count accepted: 2^53-1, the largest integer
// the reference (JavaScript numbers) represents exactly. It also keeps sums of
// counts far from int64 overflow.
const maxCount = 1<<53 - 1

// quoCtx divides by a divisor that is not a power of ten (3600 seconds per
// audio hour), whose quotient generally has no finite decimal expansion: it
// is rounded half-even to 34 significant digits (IEEE decimal128), far below
// a billionth of a cent for any real call.
var quoCtx = apd.Context{Precision: 34, MaxExponent: apd.MaxExponent, MinExponent: apd.MinExponent, Rounding: apd.RoundHalfEven, Traps: apd.DefaultTraps &^ apd.Inexact &^ apd.Rounded}

// Price prices one call. It is safe for concurrent use. For a (provider,
// model) pair seen before it does no catalog scan and no allocation.
func (c *Catalog) Price(q *Query, r *Result) { c.price(q, r, nil) }

func (c *Catalog) price(q *Query, r *Result, ex *Explanation) {
	r.reset()

	var res *resolution
	if q.ResponseModel != "" {
		res = c.resolve(q.Provider, q.ResponseModel)
		r.MatchedName = q.ResponseModel
	}
	if (res == nil || res.model == nil) && q.RequestModel != "" && q.RequestModel != q.ResponseModel {
		first := res
		res = c.resolve(q.Provider, q.RequestModel)
		r.MatchedName = q.RequestModel
		if res.model == nil && first != nil {
			r.Status, r.MatchedName = UnknownModel, ""
			r.Detail = "response " + first.detail + "; request " + res.detail
			return
		}
	}
	if res == nil {
		r.Status, r.MatchedName, r.Detail = UnknownModel, "", "no model name (response and request model are empty)"
		return
	}
	if res.model == nil {
		r.Status, r.MatchedName, r.Detail = UnknownModel, "", res.detail
		return
	}
	r.ProviderID, r.ModelID, r.ProviderNote = res.prov.id, res.model.id, res.provNote
	if ex != nil {
		ex.fillMatch(res)
	}
	if q.At.IsZero() {
		r.Status, r.Detail = InvalidUsage, "call time is not set: prices are chosen by the time of the call"
		return
	}
	ci := res.model.selectPrice(q.At)
	if ci < 0 {
		r.Status, r.ProviderID, r.ModelID, r.MatchedName, r.ProviderNote = UnknownModel, "", "", "", ""
		r.Detail = "model " + quote(res.model.id) + " of provider " + quote(res.prov.id) + " has no price in force at " + q.At.UTC().Format("2006-01-02T15:04:05Z")
		return
	}
	applyEntry(res, ci, q, r, ex)
}

// applyEntry prices q with entry ci of the matched model, at the service
// tier of the query when the entry has it. It reports whether the call was
// priced.
func applyEntry(res *resolution, ci int, q *Query, r *Result, ex *Explanation) bool {
	cp := &res.model.prices[ci]
	ps, ref, tier := cp.ps, cp.ref, ""
	if q.Tier != "" {
		if want := NormalizeTier(q.Tier); want != "" {
			for k := range cp.tiers {
				if cp.tiers[k].name == want {
					ps, ref, tier = cp.tiers[k].ps, cp.tiers[k].ref, want
					break
				}
			}
		}
	}
	r.Ref, r.Tier = ref, tier
	if ex != nil {
		ex.PriceEntry, ex.PriceEntries, ex.Constraint = ci, len(res.model.prices), cp.describe()
		if res.model.plain {
			ex.PriceEntries = 0
		}
		ex.Ref, ex.TierRequested, ex.Tier = ref, q.Tier, tier
	}
	u := &q.Usage
	if res.prov.id == "groq" && (res.model.id == "whisper-large-v3" || res.model.id == "whisper-large-v3-turbo") {
		// Groq bills transcription per audio second with a 10 s minimum
		// (reference calcPrice special case).
		cp := *u
		groqWhisper(&cp)
		u = &cp
	}
	if err := ps.compute(u, &r.Cost, ex); err != nil {
		r.Status, r.Detail = InvalidUsage, err.Error()
		r.Cost.SetInt64(0)
		return false
	}
	r.Status = Priced
	return true
}

func groqWhisper(u *Usage) {
	l, hasL := u.v[uAudioSeconds], u.present&(1<<uAudioSeconds) != 0
	i, hasI := u.v[uInputAudioSecs], u.present&(1<<uInputAudioSecs) != 0
	// d = l === 0 ? u : l ?? u
	var d int64
	var has bool
	switch {
	case hasL && l == 0:
		d, has = i, hasI
	case hasL:
		d, has = l, true
	default:
		d, has = i, hasI
	}
	if !has || d < 0 {
		return // negative values are rejected by compute
	}
	if d > 0 && d < 10 {
		d = 10
	}
	u.set(uAudioSeconds, d)
	u.set(uInputAudioSecs, d)
}

// selectPrice returns the index of the conditional price in force at `at`
// (reference `we`): scanned from the end, the first entry whose constraint
// holds wins; no constraint always holds; the first entry is the fallback.
// Times are compared at millisecond resolution, as JavaScript dates are.
//
// A ranged model (native format) returns the entry whose effective range
// covers `at`, or -1 when none does.
func (m *model) selectPrice(at time.Time) int {
	if m.plain {
		return 0
	}
	ms := at.UnixMilli()
	if m.ranged {
		for i := range m.prices {
			if m.prices[i].covers(ms) {
				return i
			}
		}
		return -1
	}
	const dayMs = int64(24 * 3600 * 1000)
	tod := ((ms % dayMs) + dayMs) % dayMs * int64(time.Millisecond)
	for i := len(m.prices) - 1; i >= 0; i-- {
		c := &m.prices[i]
		switch c.kind {
		case noConstraint:
			return i
		case startDate:
			if ms >= c.start.UnixMilli() {
				return i
			}
		case timeOfDay:
			if c.endNs < c.startNs {
				if tod >= c.startNs || tod < c.endNs {
					return i
				}
			} else if tod >= c.startNs && tod < c.endNs {
				return i
			}
		}
	}
	return 0
}

// compute sets cost to Σ leaf × price / per over the priced units (reference
// `he`). Each unit's leaf value is its reported value minus the leaf values
// of its priced, more specific descendants (so cache reads priced at their own
// rate are not also charged as input); requests are charged once.
func (ps *priceSet) compute(u *Usage, cost *apd.Decimal, ex *Explanation) error {
	var pos uint64
	for m := u.present; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if v := u.v[i]; v < 0 {
			return fmt.Errorf("invalid usage: %s = %d is negative", units.units[i].key, v)
		} else if v > maxCount {
			return fmt.Errorf("invalid usage: %s = %d exceeds %d", units.units[i].key, v, int64(maxCount))
		} else if v > 0 && units.units[i].reported {
			pos |= 1 << i
		}
	}
	if ps.strict && pos&^ps.covered != 0 {
		i := bits.TrailingZeros64(pos &^ ps.covered)
		return fmt.Errorf("invalid usage: %s = %d has no price in this entry (it would be charged nothing)", units.units[i].key, u.v[i])
	}
	var tierInput int64
	if ps.tiered {
		v, err := reportedValue(u, pos, uInput)
		if err != nil {
			return err
		}
		tierInput = v
	}
	var leaf [maxUnits]int64
	for i := range ps.items {
		it := &ps.items[i]
		s, err := reportedValue(u, pos, it.unit)
		if err != nil {
			return err
		}
		var sub int64
		for _, j := range it.desc {
			sub += leaf[j]
		}
		if s < sub {
			return ps.leafError(u, pos, i, s, sub)
		}
		leaf[i] = s - sub
	}
	if ex != nil {
		ex.Tiered, ex.TierInput = ps.tiered, tierInput
	} else if ps.fixed && ps.fixedSum(cost, &leaf, tierInput) {
		return nil
	}
	cost.SetInt64(0)
	var term apd.Decimal
	for i := range ps.items {
		if leaf[i] > 0 {
			if err := ps.items[i].add(cost, &term, leaf[i], tierInput, ex); err != nil {
				return err
			}
		}
	}
	if ps.requests != nil {
		if err := ps.requests.add(cost, &term, 1, tierInput, ex); err != nil {
			return err
		}
	}
	cost.Reduce(cost)
	if cost.IsZero() {
		cost.SetInt64(0)
	}
	return nil
}

// fixedSum computes the cost as Σ leaf × coefficient in 128-bit integers
// (leaf < 2^53, coefficient < 2^62, at most 64 terms: no overflow of 128
// bits). It reports false, leaving cost to the apd path, when the sum does not
// fit an int64 coefficient.
func (ps *priceSet) fixedSum(cost *apd.Decimal, leaf *[maxUnits]int64, tierInput int64) bool {
	var hi, lo uint64
	addTerm := func(n int64, it *priceItem) {
		c := it.fix
		for k := range it.tiers {
			if tierInput > it.tiers[k].start {
				c = it.tiers[k].fix
			}
		}
		h, l := bits.Mul64(uint64(n), uint64(c))
		var carry uint64
		lo, carry = bits.Add64(lo, l, 0)
		hi += h + carry
	}
	for i := range ps.items {
		if leaf[i] > 0 {
			addTerm(leaf[i], &ps.items[i])
		}
	}
	if ps.requests != nil {
		addTerm(1, ps.requests)
	}
	if hi != 0 || lo > 1<<63-1 {
		return false
	}
	// Canonical form: no trailing zeros in the coefficient (0.01755, not 0.017550000).
	exp := ps.fixedExp
	if lo == 0 {
		exp = 0
	}
	for lo != 0 && lo%10 == 0 && exp < 0 {
		lo /= 10
		exp++
	}
	cost.SetFinite(int64(lo), exp)
	return true
}

// add adds n × price (at the tier for tierInput) to cost.
func (it *priceItem) add(cost, term *apd.Decimal, n, tierInput int64, ex *Explanation) error {
	price, tierIdx := &it.price, -1
	for k := range it.tiers {
		// The whole request is charged at the last tier whose start the
		// total input strictly exceeds.
		if tierInput > it.tiers[k].start {
			price, tierIdx = &it.tiers[k].price, k
		}
	}
	term.SetInt64(n)
	if err := money.Mul(term, term, price); err != nil {
		return err
	}
	if it.inexact {
		var per apd.Decimal
		per.SetInt64(units.units[it.unit].per)
		if _, err := quoCtx.Quo(term, term, &per); err != nil {
			return err
		}
	}
	if err := money.Add(cost, cost, term); err != nil {
		return err
	}
	if ex != nil {
		u := &units.units[it.unit]
		raw, tierName := it.raw, ""
		if len(it.tiers) > 0 {
			tierName = "base"
		}
		if tierIdx >= 0 {
			raw, tierName = it.tiers[tierIdx].raw, fmt.Sprint("input_tokens > ", it.tiers[tierIdx].start)
		}
		ex.Buckets = append(ex.Buckets, Bucket{UsageKey: u.key, PriceKey: u.priceKey, Quantity: n, Price: raw, Per: u.per, Tier: tierName})
		ex.Buckets[len(ex.Buckets)-1].Cost.Set(term)
	}
	return nil
}

// reportedValue is the reference's `B`: the value reported for unit i, or 0
// when it is absent — unless a positive more specific value was reported
// (the total is unknown, not zero) or two positive values overlap exactly on i.
func reportedValue(u *Usage, pos uint64, i int) (int64, error) {
	if u.present&(1<<i) != 0 {
		return u.v[i], nil
	}
	if d := pos & units.desc[i]; d != 0 {
		return 0, fmt.Errorf("invalid usage: missing usage value for %s with positive reported descendant %s",
			units.units[i].key, units.units[bits.TrailingZeros64(d)].key)
	}
	for _, p := range units.joins[i] {
		if pos&(1<<p[0]) != 0 && pos&(1<<p[1]) != 0 {
			return 0, fmt.Errorf("invalid usage: missing usage value for %s with positive reported overlap %s and %s",
				units.units[i].key, units.units[p[0]].key, units.units[p[1]].key)
		}
	}
	return 0, nil
}

// leafError explains a negative leaf (reference `se`).
func (ps *priceSet) leafError(u *Usage, pos uint64, i int, total, sub int64) error {
	it := &ps.items[i]
	key := units.units[it.unit].key
	var names []string
	for _, j := range it.desc {
		du := ps.items[j].unit
		v, _ := reportedValue(u, pos, du)
		if v <= 0 {
			continue
		}
		if v > total {
			return fmt.Errorf("invalid usage: %s (%d) cannot exceed %s (%d)", units.units[du].key, v, key, total)
		}
		names = append(names, units.units[du].key)
	}
	return fmt.Errorf("invalid usage: more-specific usage for %s totals %d, which exceeds %s (%d)", strings.Join(names, ", "), sub, key, total)
}
