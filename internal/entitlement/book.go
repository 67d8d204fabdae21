package entitlement

import (
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// prorate divides the revenue of a call that straddles the end of an
// allowance; the only division in the book. 34 significant digits, then
// rounded half-even to OverageScale fractional digits, deterministically, so
// that a rebuild reproduces it to the digit.
var prorate = apd.Context{Precision: 34, MaxExponent: apd.MaxExponent, MinExponent: apd.MinExponent, Rounding: apd.RoundHalfEven}

// OverageScale is the number of fractional digits of a pro-rated overage
// amount (1e-12 USD).
const OverageScale = 12

// BalanceKey names one allowance of one tenant in one billing period.
type BalanceKey struct {
	Tenant    string
	Period    time.Time // the period's start, UTC
	Allowance string
}

// Balance is the state of one allowance of a tenant in a period. Used is
// every unit the calls took; Included + Granted + Overage == Used.
type Balance struct {
	BalanceKey
	End    time.Time
	Plan   string
	Meter  string
	Amount apd.Decimal // included amount of the period (with the tenant's override)

	Used, Included, Granted, Overage apd.Decimal
	// OverageUSD is what the overage is billed; OverageUnpriced counts calls
	// whose overage could not be priced (no rate-card revenue): never a 0.
	OverageUSD apd.Decimal
	// Calls counts every call the allowance matched; Unmetered those whose
	// quantity is unknown (credits or cost of an unpriced call), which are
	// counted here and nowhere else rather than as 0.
	Calls, Unmetered, OverageUnpriced int64

	Dirty bool // changed since loaded
}

// Remaining is the included amount not used yet (never negative).
func (b *Balance) Remaining() apd.Decimal {
	var r apd.Decimal
	_ = money.Sub(&r, &b.Amount, &b.Included)
	if r.Negative {
		r.SetInt64(0)
	}
	return r
}

// Grant is prepaid or promotional quantity of a meter (credits by default)
// for one tenant. Grants apply to calls the ledger stores after the grant was
// created (seq > AfterSeq) and, once voided, up to the void (seq <=
// VoidedSeq), so that a rebuild in ledger order gives the same split.
type Grant struct {
	ID        string
	Tenant    string
	Meter     string
	Amount    apd.Decimal
	Used      apd.Decimal
	Effective time.Time // calls at or after (record time)
	Expires   time.Time // calls before; zero: never
	Priority  int       // lower burns first
	AfterSeq  int64
	VoidedSeq int64 // 0: not voided
	Note      string
	Created   time.Time

	Dirty bool
}

// Remaining is Amount - Used.
func (g *Grant) Remaining() apd.Decimal {
	var r apd.Decimal
	_ = money.Sub(&r, &g.Amount, &g.Used)
	return r
}

func (g *Grant) usable(seq int64, at time.Time) bool {
	if seq <= g.AfterSeq || (g.VoidedSeq != 0 && seq > g.VoidedSeq) {
		return false
	}
	if at.Before(g.Effective) || (!g.Expires.IsZero() && !at.Before(g.Expires)) {
		return false
	}
	r := g.Remaining()
	return r.Sign() > 0
}

// SortGrants puts grants in burn order: priority, then the soonest expiry
// (none last), then creation order.
func SortGrants(gs []*Grant) {
	sort.SliceStable(gs, func(i, j int) bool {
		a, b := gs[i], gs[j]
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		if !a.Expires.Equal(b.Expires) {
			switch {
			case a.Expires.IsZero():
				return false
			case b.Expires.IsZero():
				return true
			}
			return a.Expires.Before(b.Expires)
		}
		if a.AfterSeq != b.AfterSeq {
			return a.AfterSeq < b.AfterSeq
		}
		return a.ID < b.ID
	})
}

// Book is the entitlement state of some tenants: their balances for the
// periods loaded and their grants. The stores load what a batch needs, Apply
// the batch in ledger order, and write back what is Dirty. Not safe for
// concurrent use.
type Book struct {
	Plans    *Plans
	Balances map[BalanceKey]*Balance
	Grants   map[string][]*Grant // by tenant, in burn order
}

// NewBook returns an empty book.
func NewBook(ps *Plans) *Book {
	return &Book{Plans: ps, Balances: map[BalanceKey]*Balance{}, Grants: map[string][]*Grant{}}
}

// AddGrant adds g to its tenant's grants, keeping burn order.
func (b *Book) AddGrant(g *Grant) {
	gs := append(b.Grants[g.Tenant], g)
	SortGrants(gs)
	b.Grants[g.Tenant] = gs
}

// PeriodOf returns the tenant and billing-period start the record's balances
// are kept under (ok false: no plan applies, the record allocates nothing).
func (b *Book) PeriodOf(r *usage.Record) (tenant string, start time.Time, ok bool) {
	tenant = tenantOf(r)
	pl, t := b.Plans.PlanFor(tenant, r.Plan)
	if pl == nil {
		return tenant, time.Time{}, false
	}
	start, _ = Period(pl, t, r.Time)
	return tenant, start, true
}

func tenantOf(r *usage.Record) string {
	if r.TenantID == "" {
		return usage.Unattributed
	}
	return r.TenantID
}

// GrantUse is how much of one grant a call burned.
type GrantUse struct {
	Grant  string
	Amount apd.Decimal
}

// Split is how one call was allocated to one allowance.
type Split struct {
	Allowance  string
	Unmetered  bool // quantity unknown: counted, not allocated
	Quantity   apd.Decimal
	Included   apd.Decimal
	Grants     []GrantUse
	Overage    apd.Decimal
	OverageUSD apd.Decimal
	// OverageUnpriced: there is overage but no revenue to price it by.
	OverageUnpriced bool
}

// Apply allocates the record stored at ledger position seq to every
// allowance of its plan whose filter matches: included allowance first, then
// grants in burn order, then overage. The balances of the record's tenant and
// period, and the tenant's grants, must be loaded (missing balances start at
// zero). Apply must see each stored record once, in seq order.
func (b *Book) Apply(seq int64, r *usage.Record) ([]Split, error) {
	tenant := tenantOf(r)
	pl, t := b.Plans.PlanFor(tenant, r.Plan)
	if pl == nil {
		return nil, nil
	}
	start, end := Period(pl, t, r.Time)
	ended := t != nil && !t.Ends.IsZero() && !r.Time.Before(t.Ends)
	var splits []Split
	for i := range pl.Allowances {
		a := &pl.Allowances[i]
		if !a.Filter.matches(r) {
			continue
		}
		bal := b.balance(BalanceKey{Tenant: tenant, Period: start, Allowance: a.Name}, end, pl, t, a)
		bal.Dirty = true
		bal.Calls++
		sp := Split{Allowance: a.Name}
		q, known, err := quantity(pl, a, r)
		if err != nil {
			return nil, fmt.Errorf("entitlement: event %s, allowance %s: %w", r.EventID, a.Name, err)
		}
		if !known {
			bal.Unmetered++
			sp.Unmetered = true
			splits = append(splits, sp)
			continue
		}
		sp.Quantity = q
		var rest apd.Decimal
		rest.Set(&q)
		if !ended {
			rem := bal.Remaining()
			take := minDec(&rem, &rest)
			sp.Included = take
			add(&bal.Included, &take)
			sub(&rest, &take)
		}
		if rest.Sign() > 0 {
			for _, g := range b.Grants[tenant] {
				if g.Meter != a.Meter || !g.usable(seq, r.Time) {
					continue
				}
				gr := g.Remaining()
				take := minDec(&gr, &rest)
				add(&g.Used, &take)
				g.Dirty = true
				add(&bal.Granted, &take)
				sub(&rest, &take)
				sp.Grants = append(sp.Grants, GrantUse{Grant: g.ID, Amount: take})
				if rest.Sign() == 0 {
					break
				}
			}
		}
		add(&bal.Used, &q)
		if rest.Sign() > 0 {
			sp.Overage = rest
			add(&bal.Overage, &rest)
			usd, priced, err := overageUSD(a, r, &rest, &q)
			if err != nil {
				return nil, fmt.Errorf("entitlement: event %s, allowance %s: overage: %w", r.EventID, a.Name, err)
			}
			if priced {
				sp.OverageUSD = usd
				add(&bal.OverageUSD, &usd)
			} else {
				sp.OverageUnpriced = true
				bal.OverageUnpriced++
			}
		}
		splits = append(splits, sp)
	}
	return splits, nil
}

// balance returns the balance of k, created empty when missing, set to the
// plan of the call being applied: a change of plan within a period applies
// from the next call on. Rule: each call is allocated against the amount of
// the plan in effect for it (AmountOf); what an earlier plan of the period
// included stays included (never re-billed as overage). The balance's
// Amount is that plan's amount raised to Included, so Included <= Amount
// always holds and Remaining is what the next call under that plan would
// get: after a downgrade below what is already included nothing more is
// included, and further usage is overage (soft) or refused by the check
// (hard). It depends only on the calls in ledger order, so a rebuild gives
// the same balance.
func (b *Book) balance(k BalanceKey, end time.Time, pl *Plan, t *Tenant, a *Allowance) *Balance {
	bal := b.Balances[k]
	if bal == nil {
		bal = &Balance{BalanceKey: k}
		b.Balances[k] = bal
	}
	bal.End, bal.Plan, bal.Meter, bal.Amount = end, pl.Name, a.Meter, AmountOf(t, a)
	if bal.Amount.Cmp(&bal.Included) < 0 {
		bal.Amount.Set(&bal.Included)
	}
	return bal
}

// AmountOf is the allowance's amount for tenant t (its override, if any).
func AmountOf(t *Tenant, a *Allowance) apd.Decimal {
	if t != nil {
		if amt, ok := t.Amounts[a.Name]; ok {
			return amt
		}
	}
	return a.Amount
}

// quantity is how much of the allowance's meter the call used; known is false
// when the record lacks what the meter needs (credits or cost of an unpriced
// call).
func quantity(pl *Plan, a *Allowance, r *usage.Record) (q apd.Decimal, known bool, err error) {
	switch a.Meter {
	case MeterCalls:
		q.SetInt64(1)
	case MeterCostUSD:
		if r.CostUSD == "" {
			return q, false, nil
		}
		if q, err = money.Parse(r.CostUSD); err != nil {
			return q, false, err
		}
	case MeterCredits:
		if r.Credits != "" {
			// The rate card's own credits, exact, as the record keeps them.
			q, err = money.Parse(r.Credits)
			return q, err == nil, err
		}
		// A record without credits (a card in USD, or written before
		// records kept them): its revenue at the plan's rate.
		if r.RevenueUSD == "" {
			return q, false, nil
		}
		rev, err := money.Parse(r.RevenueUSD)
		if err != nil {
			return q, false, err
		}
		if err := money.Mul(&q, &rev, &pl.CreditsPerUSD); err != nil {
			return q, false, err
		}
	case MeterTokens:
		var n int64
		switch a.Bucket {
		case "input":
			n = r.InputTokens
		case "output":
			n = r.OutputTokens
		case "cache_read":
			n = r.CacheReadTokens
		case "cache_write":
			n = r.CacheWriteTokens
		case "reasoning":
			n = r.ReasoningTokens
		case "total":
			n = r.InputTokens + r.OutputTokens
		}
		q.SetInt64(n)
	default:
		return q, false, fmt.Errorf("unknown meter %q", a.Meter)
	}
	return q, true, nil
}

// overageUSD prices over units of the call's q: the allowance's price per
// unit, or the call's rate-card revenue pro-rated to the units over.
func overageUSD(a *Allowance, r *usage.Record, over, q *apd.Decimal) (apd.Decimal, bool, error) {
	var out apd.Decimal
	if a.HasOveragePrice {
		err := money.Mul(&out, over, &a.OveragePrice)
		return out, err == nil, err
	}
	if r.RevenueUSD == "" {
		return out, false, nil
	}
	rev, err := money.Parse(r.RevenueUSD)
	if err != nil {
		return out, false, err
	}
	if over.Cmp(q) == 0 {
		return rev, true, nil
	}
	var num apd.Decimal
	if err := money.Mul(&num, &rev, over); err != nil {
		return out, false, err
	}
	if _, err := prorate.Quo(&out, &num, q); err != nil {
		return out, false, err
	}
	if _, err := prorate.Quantize(&out, &out, -OverageScale); err != nil {
		return out, false, err
	}
	return out, true, nil
}

// matches reports whether the filter selects r.
func (f *Filter) matches(r *usage.Record) bool {
	if f.BillableOnly && !r.Billable {
		return false
	}
	if f.Operation != "" && f.Operation != r.Operation {
		return false
	}
	if f.Feature != "" && !glob(f.Feature, r.Feature) {
		return false
	}
	if f.Model != "" && !glob(f.Model, ModelOf(r)) {
		return false
	}
	if f.Provider != "" && !glob(f.Provider, ProviderOf(r)) {
		return false
	}
	return true
}

// ModelOf is the model a filter sees: the catalog's name when priced, else
// the response's, else the request's.
func ModelOf(r *usage.Record) string {
	switch {
	case r.CatalogModel != "":
		return r.CatalogModel
	case r.ResponseModel != "":
		return r.ResponseModel
	}
	return r.RequestModel
}

// ProviderOf is the provider a filter sees: the catalog's, else the span's.
func ProviderOf(r *usage.Record) string {
	if r.CatalogProvider != "" {
		return r.CatalogProvider
	}
	return r.Provider
}

func glob(pattern, s string) bool {
	ok, _ := path.Match(pattern, s) // patterns are checked by Parse
	return ok
}

func minDec(a, b *apd.Decimal) apd.Decimal {
	var out apd.Decimal
	if a.Cmp(b) <= 0 {
		out.Set(a)
	} else {
		out.Set(b)
	}
	if out.Negative {
		out.SetInt64(0)
	}
	return out
}

func add(dst, x *apd.Decimal) { _ = money.Add(dst, dst, x) }
func sub(dst, x *apd.Decimal) { _ = money.Sub(dst, dst, x) }
