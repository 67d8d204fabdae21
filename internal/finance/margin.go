// Package finance answers the questions metering is for: is a customer
// profitable (margin per tenant, plan, feature and model over a billing
// period) and what will it be invoiced (invoice preview). It reads what the
// ledger's writers keep in the insert's transaction: the entitlement balances
// (plan fees, included use and overage come from package entitlement's plans
// and the stored balances, never from a second computation here) and the
// daily usage rollup (calls, cost and revenue per tenant, day, plan, feature
// and model), not the raw records: a tenant's month is a few dozen rollup
// rows, where its records are a scan of the month's index of the whole
// ledger. The records are read only while the rollup lags them (see Ledger).
//
// Money is exact: every amount is a decimal read from the ledger as text and
// added with package money's arithmetic in Go. SQLite stores money as text
// and its SUM is a float, so no amount is ever summed in SQL.
//
// What a tenant is billed for a period:
//
//   - a tenant with a plan: the plan's monthly fee plus the overage of its
//     allowances (the balances' overage_usd: a per-unit price or the rate-card
//     revenue of the usage beyond the allowance). Calls within the allowance
//     are covered by the fee; their rate-card revenue is shown as
//     usage_revenue_usd for reference only.
//   - a tenant with no plan (no plans, or no default_plan): the rate-card
//     revenue of its calls (pay as you go).
package finance

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Ledger is what the reports read: *balances.Ledger. The reports are built
// from the balances and the daily usage rollup (DailyUsage, kept in the
// insert's transaction); the records are read only while the rollup lags
// them (a writer without the balances hook), and one tenant's records of one
// day when that day's rollup rows cannot say which of two plans came first.
type Ledger interface {
	Plans() *entitlement.Plans
	PeriodBalances(ctx context.Context, tenant string, from, to time.Time) ([]*entitlement.Balance, error)
	DailyUsage(ctx context.Context, tenant string, from, to time.Time, fn func(d *usage.DailyUsage) error) (bool, error)
	Records(ctx context.Context, since, until time.Time, fn func(r *usage.Record) error) error
	TenantRecords(ctx context.Context, tenant string, since, until time.Time, fn func(r *usage.Record) error) error
}

// Period is a reporting period: a calendar month. A tenant's billing period
// in it is the one that starts in that month (the month itself for calendar
// plans, from the anchor day for anchor_day plans).
type Period struct {
	Name       string // 2026-11
	Start, End time.Time
}

// ParsePeriod reads YYYY-MM.
func ParsePeriod(s string) (Period, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return Period{}, fmt.Errorf("period: want a month YYYY-MM (2026-11), got %q", s)
	}
	return monthOf(t), nil
}

func monthOf(t time.Time) Period {
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return Period{Name: start.Format("2006-01"), Start: start, End: start.AddDate(0, 1, 0)}
}

// Previous is the month before.
func (p Period) Previous() Period { return monthOf(p.Start.AddDate(0, -1, 0)) }

// Flags a tenant's margin can carry.
const (
	FlagNegativeMargin = "negative_margin"
	// FlagCostOutgrewRevenue: cost grew by a larger factor than revenue since
	// the previous period (both known and non-zero then).
	FlagCostOutgrewRevenue = "cost_outgrew_revenue"
	// FlagHeavyUser: cost above twice the median cost of its plan's tenants.
	FlagHeavyUser = "heavy_user"
	// FlagUnknownPlan: the balances name a plan the plans file no longer has;
	// its fee is unknown and not counted.
	FlagUnknownPlan = "unknown_plan"
	// FlagUnpricedCalls: some calls have no cost; the cost does not cover them.
	FlagUnpricedCalls = "unpriced_calls"
)

// AllowanceUse is one allowance of the tenant's billing period, as stored.
type AllowanceUse struct {
	Name, Meter                                          string
	Amount, Used, Included, Granted, Overage, OverageUSD apd.Decimal
	Calls, Unmetered, OverageUnpriced                    int64
}

// Group is usage of one feature or model.
type Group struct {
	Key             string // the feature, or provider/model
	Calls           int64
	UnpricedCalls   int64
	CostUSD         apd.Decimal
	UsageRevenueUSD apd.Decimal
}

// TenantMargin is one tenant's money for one billing period.
type TenantMargin struct {
	Tenant      string
	Plan        string // "" : no plan (pay as you go)
	PeriodStart time.Time
	PeriodEnd   time.Time

	PlanFeeUSD           apd.Decimal
	Allowances           []AllowanceUse
	OverageUSD           apd.Decimal
	OverageUnpricedCalls int64
	// UsageRevenueUSD is the rate-card revenue of the period's calls; billed
	// only without a plan (see the package comment).
	UsageRevenueUSD apd.Decimal
	RevenueUSD      apd.Decimal // what the tenant is billed
	CostUSD         apd.Decimal // our AI cost of the priced calls
	MarginUSD       apd.Decimal
	// MarginPct is MarginUSD / RevenueUSD × 100 to two decimals; nil when
	// there is no revenue.
	MarginPct *apd.Decimal

	Calls, PricedCalls, UnpricedCalls int64
	// UnpricedPct is the share of calls (percent, two decimals) whose cost is
	// unknown and not in CostUSD.
	UnpricedPct apd.Decimal

	ByFeature []Group
	ByModel   []Group

	// The previous period's revenue and cost (for FlagCostOutgrewRevenue).
	PrevRevenueUSD, PrevCostUSD apd.Decimal
	Flags                       []string
}

// PlanSegment is the tenants of one plan.
type PlanSegment struct {
	Plan                           string
	Tenants                        int
	RevenueUSD, CostUSD, MarginUSD apd.Decimal
	MarginPct                      *apd.Decimal
	MedianCostUSD                  apd.Decimal
	HeavyUsers                     []string
}

// Margin is the margin report of a period.
type Margin struct {
	Period  Period
	Tenants []TenantMargin
	Plans   []PlanSegment
	// Totals over every tenant.
	RevenueUSD, CostUSD, MarginUSD apd.Decimal
	MarginPct                      *apd.Decimal
	Calls, UnpricedCalls           int64
}

var (
	// ratio divides for percentages and medians only, never amounts billed.
	ratio = apd.Context{Precision: 34, MaxExponent: apd.MaxExponent, MinExponent: apd.MinExponent, Rounding: apd.RoundHalfEven}
)

func add(dst, x *apd.Decimal) { _ = money.Add(dst, dst, x) }

// acc accumulates one tenant's period.
type acc struct {
	m         *TenantMargin
	features  map[string]*Group
	models    map[string]*Group
	hasPlan   bool
	planKnown bool
}

// MarginReport builds the margin report of p.
func MarginReport(ctx context.Context, l Ledger, p Period) (*Margin, error) {
	return marginReport(ctx, l, p, fromRollups)
}

func marginReport(ctx context.Context, l Ledger, p Period, src source) (*Margin, error) {
	cur, err := collect(ctx, l, p, "", src)
	if err != nil {
		return nil, err
	}
	prev, err := collect(ctx, l, p.Previous(), "", src)
	if err != nil {
		return nil, err
	}
	rep := &Margin{Period: p}
	for _, t := range slices.Sorted(maps.Keys(cur)) {
		a := cur[t]
		m := a.m
		if pa := prev[t]; pa != nil {
			m.PrevRevenueUSD, m.PrevCostUSD = pa.m.RevenueUSD, pa.m.CostUSD
			// cost/prevCost > revenue/prevRevenue, without dividing.
			if m.PrevCostUSD.Sign() > 0 && m.PrevRevenueUSD.Sign() > 0 {
				var l, r apd.Decimal
				_ = money.Mul(&l, &m.CostUSD, &m.PrevRevenueUSD)
				_ = money.Mul(&r, &m.RevenueUSD, &m.PrevCostUSD)
				if l.Cmp(&r) > 0 {
					m.Flags = append(m.Flags, FlagCostOutgrewRevenue)
				}
			}
		}
		rep.Tenants = append(rep.Tenants, *m)
		add(&rep.RevenueUSD, &m.RevenueUSD)
		add(&rep.CostUSD, &m.CostUSD)
		rep.Calls += m.Calls
		rep.UnpricedCalls += m.UnpricedCalls
	}
	_ = money.Sub(&rep.MarginUSD, &rep.RevenueUSD, &rep.CostUSD)
	rep.MarginPct = pct(&rep.MarginUSD, &rep.RevenueUSD)
	rep.Plans = segments(rep.Tenants)
	for i := range rep.Tenants {
		sort.Strings(rep.Tenants[i].Flags)
	}
	return rep, nil
}

// Tenant returns one tenant's money of p, reading only that tenant's calls
// (nil if it has neither records, balances nor a plan). It has no
// previous-period comparison or plan segment: see MarginReport.
func Tenant(ctx context.Context, l Ledger, p Period, tenant string) (*TenantMargin, error) {
	return tenantMargin(ctx, l, p, tenant, fromRollups)
}

func tenantMargin(ctx context.Context, l Ledger, p Period, tenant string, src source) (*TenantMargin, error) {
	cur, err := collect(ctx, l, p, tenant, src)
	if err != nil {
		return nil, err
	}
	a := cur[tenant]
	if a == nil {
		return nil, nil
	}
	sort.Strings(a.m.Flags)
	return a.m, nil
}

// collect reads p's balances and records into one accumulator per tenant
// (only = "": every tenant).
func collect(ctx context.Context, l Ledger, p Period, only string, src source) (map[string]*acc, error) {
	ps := l.Plans()
	out := map[string]*acc{}
	get := func(tenant string) *acc {
		a := out[tenant]
		if a == nil {
			a = &acc{m: &TenantMargin{Tenant: tenant, PeriodStart: p.Start, PeriodEnd: p.End}, features: map[string]*Group{}, models: map[string]*Group{}}
			out[tenant] = a
		}
		return a
	}
	setPlan := func(a *acc, name string, start, end time.Time) {
		if a.hasPlan {
			return
		}
		a.hasPlan = true
		a.m.Plan, a.m.PeriodStart, a.m.PeriodEnd = name, start, end
		if ps != nil {
			if pl := ps.Plans[name]; pl != nil {
				a.planKnown = true
				a.m.PlanFeeUSD = pl.MonthlyFee
			}
		}
	}
	// Allowances and overage: as the writers allocated them.
	bals, err := l.PeriodBalances(ctx, only, p.Start, p.End)
	if err != nil {
		return nil, err
	}
	for _, b := range bals {
		if only != "" && b.Tenant != only {
			continue
		}
		a := get(b.Tenant)
		setPlan(a, b.Plan, b.Period, b.End)
		a.m.Allowances = append(a.m.Allowances, AllowanceUse{Name: b.Allowance, Meter: b.Meter, Amount: b.Amount, Used: b.Used,
			Included: b.Included, Granted: b.Granted, Overage: b.Overage, OverageUSD: b.OverageUSD, Calls: b.Calls,
			Unmetered: b.Unmetered, OverageUnpriced: b.OverageUnpriced})
		add(&a.m.OverageUSD, &b.OverageUSD)
		a.m.OverageUnpricedCalls += b.OverageUnpriced
	}
	// Tenants of the plans file pay their fee with or without calls.
	if ps != nil {
		for name, t := range ps.Tenants {
			if only != "" && name != only {
				continue
			}
			pl, _ := ps.PlanFor(name, "")
			if pl == nil || (!t.Ends.IsZero() && !t.Ends.After(p.Start)) {
				continue
			}
			if _, ok := out[name]; !ok {
				start, end := periodStartingIn(pl, t, p)
				setPlan(get(name), pl.Name, start, end)
			}
		}
	}
	// Calls: a call belongs to the billing period it was allocated to
	// (entitlement's PeriodOf), or to its calendar month without a plan.
	u := &usageOf{ps: ps, p: p, get: get, firstPlans: map[string]*firstPlan{}}
	since, until := p.Start, p.End.AddDate(0, 0, 32)
	done := false
	if src == fromRollups {
		// A period's calls of a tenant are a few rollup rows per day; the
		// records are read only while the rollups lag them.
		done, err = l.DailyUsage(ctx, only, since, until, u.addDay)
		if u.err != nil {
			return nil, u.err
		}
		if err != nil {
			return nil, err
		}
	}
	if !done {
		read := l.Records
		if only != "" {
			read = func(ctx context.Context, since, until time.Time, fn func(r *usage.Record) error) error {
				return l.TenantRecords(ctx, only, since, until, fn)
			}
		}
		err = read(ctx, since, until, u.addRecord)
		if u.err != nil {
			return nil, u.err
		}
		if err != nil {
			return nil, err
		}
	}
	if err := u.setFirstPlans(ctx, l, setPlan); err != nil {
		return nil, err
	}
	for _, a := range out {
		finish(a)
	}
	return out, nil
}

// source is what collect reads calls from.
type source int

const (
	// fromRollups: the daily usage rollup, or the records while it lags.
	fromRollups source = iota
	// fromRecords: the records (the reports as they were built before the
	// rollup had the plan; tests hold the two equal).
	fromRecords
)

// usageOf adds calls, one record or one rollup row at a time, to the
// tenants' accumulators of period p.
type usageOf struct {
	ps  *entitlement.Plans
	p   Period
	get func(tenant string) *acc
	// firstPlans is, per tenant, the plan of its first call in the period:
	// the plan of a tenant without balances (see setFirstPlans).
	firstPlans map[string]*firstPlan
	err        error
}

// firstPlan is the plan of a tenant's first call in the period (call time,
// then event id), or the candidates of the first day its rollup rows have
// (the rows do not order calls within a day).
type firstPlan struct {
	day   time.Time // the first call's day
	at    time.Time // the first call's time; zero from rollup rows
	event string
	plans []planOf // more than one: the day's records decide
}

type planOf struct {
	name       string
	start, end time.Time
}

// add adds n calls of tenant at time at (a record's time, or a rollup row's
// day: billing periods start at 00:00 UTC, so every call of the day falls in
// the day's period) under the record's plan recPlan.
func (u *usageOf) add(tenant string, at time.Time, recPlan, feature, model string, n, unpriced int64, cost, revenue *apd.Decimal) (planOf, bool) {
	start, end := monthOf(at).Start, monthOf(at).End
	planName := ""
	if u.ps != nil {
		if pl, t := u.ps.PlanFor(tenant, recPlan); pl != nil {
			start, end = entitlement.Period(pl, t, at)
			planName = pl.Name
		}
	}
	if start.Before(u.p.Start) || !start.Before(u.p.End) {
		return planOf{}, false
	}
	a := u.get(tenant)
	m := a.m
	f, md := group(a.features, feature), group(a.models, model)
	m.Calls += n
	f.Calls += n
	md.Calls += n
	m.UnpricedCalls += unpriced
	f.UnpricedCalls += unpriced
	md.UnpricedCalls += unpriced
	m.PricedCalls += n - unpriced
	add(&m.CostUSD, cost)
	add(&f.CostUSD, cost)
	add(&md.CostUSD, cost)
	add(&m.UsageRevenueUSD, revenue)
	add(&f.UsageRevenueUSD, revenue)
	add(&md.UsageRevenueUSD, revenue)
	return planOf{name: planName, start: start, end: end}, planName != ""
}

func (u *usageOf) addRecord(r *usage.Record) error {
	tenant := r.TenantID
	if tenant == "" {
		tenant = usage.Unattributed
	}
	var cost, revenue apd.Decimal
	var unpriced int64
	if r.CostUSD == "" {
		unpriced = 1
	} else {
		c, err := money.Parse(r.CostUSD)
		if err != nil {
			u.err = fmt.Errorf("finance: event %s: cost_usd %q: %w", r.EventID, r.CostUSD, err)
			return u.err
		}
		cost = c
	}
	if r.RevenueUSD != "" {
		v, err := money.Parse(r.RevenueUSD)
		if err != nil {
			u.err = fmt.Errorf("finance: event %s: revenue_usd %q: %w", r.EventID, r.RevenueUSD, err)
			return u.err
		}
		revenue = v
	}
	pl, ok := u.add(tenant, r.Time, r.Plan, r.Feature, entitlement.ProviderOf(r)+"/"+entitlement.ModelOf(r), 1, unpriced, &cost, &revenue)
	if ok {
		fp := u.firstPlans[tenant]
		if fp == nil || r.Time.Before(fp.at) || (r.Time.Equal(fp.at) && r.EventID < fp.event) {
			u.firstPlans[tenant] = &firstPlan{day: r.Time, at: r.Time, event: r.EventID, plans: []planOf{pl}}
		}
	}
	return nil
}

func (u *usageOf) addDay(d *usage.DailyUsage) error {
	cost, err := money.Parse(d.CostUSD)
	if err != nil {
		u.err = fmt.Errorf("finance: daily usage of %s on %s: cost_usd %q: %w", d.Tenant, d.Day.Format(time.DateOnly), d.CostUSD, err)
		return u.err
	}
	revenue, err := money.Parse(d.RevenueUSD)
	if err != nil {
		u.err = fmt.Errorf("finance: daily usage of %s on %s: revenue_usd %q: %w", d.Tenant, d.Day.Format(time.DateOnly), d.RevenueUSD, err)
		return u.err
	}
	pl, ok := u.add(d.Tenant, d.Day, d.Plan, d.Feature, d.Provider+"/"+d.Model, d.Calls, d.UnpricedCalls, &cost, &revenue)
	if !ok {
		return nil
	}
	fp := u.firstPlans[d.Tenant]
	switch {
	case fp == nil || d.Day.Before(fp.day):
		u.firstPlans[d.Tenant] = &firstPlan{day: d.Day, plans: []planOf{pl}}
	case d.Day.Equal(fp.day) && !slices.Contains(fp.plans, pl):
		fp.plans = append(fp.plans, pl)
	}
	return nil
}

// setFirstPlans gives a tenant without balances in the period (a plan
// without allowances) the plan of its first call in the period, as the
// records show it. From the rollup, a first day with calls under two plans
// (a plan change that day) is decided by that day's records of the tenant.
func (u *usageOf) setFirstPlans(ctx context.Context, l Ledger, setPlan func(a *acc, name string, start, end time.Time)) error {
	for _, tenant := range slices.Sorted(maps.Keys(u.firstPlans)) {
		fp := u.firstPlans[tenant]
		a := u.get(tenant)
		if a.hasPlan {
			continue
		}
		if len(fp.plans) > 1 {
			day := &usageOf{ps: u.ps, p: u.p, firstPlans: map[string]*firstPlan{},
				get: func(string) *acc {
					return &acc{m: &TenantMargin{}, features: map[string]*Group{}, models: map[string]*Group{}}
				}}
			if err := l.TenantRecords(ctx, tenant, fp.day, fp.day.AddDate(0, 0, 1), day.addRecord); err != nil {
				return err
			}
			if day.err != nil {
				return day.err
			}
			if first := day.firstPlans[tenant]; first != nil {
				fp = first
			}
		}
		setPlan(a, fp.plans[0].name, fp.plans[0].start, fp.plans[0].end)
	}
	return nil
}

// periodStartingIn is the tenant's billing period that starts in p.
func periodStartingIn(pl *entitlement.Plan, t *entitlement.Tenant, p Period) (time.Time, time.Time) {
	start, end := entitlement.Period(pl, t, p.Start)
	if start.Before(p.Start) {
		start, end = entitlement.Period(pl, t, end)
	}
	return start, end
}

func group(m map[string]*Group, key string) *Group {
	g := m[key]
	if g == nil {
		g = &Group{Key: key}
		m[key] = g
	}
	return g
}

func finish(a *acc) {
	m := a.m
	switch {
	case a.hasPlan && a.m.Plan != "":
		add(&m.RevenueUSD, &m.PlanFeeUSD)
		add(&m.RevenueUSD, &m.OverageUSD)
		if !a.planKnown {
			m.Flags = append(m.Flags, FlagUnknownPlan)
		}
	default:
		m.RevenueUSD.Set(&m.UsageRevenueUSD)
	}
	_ = money.Sub(&m.MarginUSD, &m.RevenueUSD, &m.CostUSD)
	m.MarginPct = pct(&m.MarginUSD, &m.RevenueUSD)
	if m.MarginUSD.Sign() < 0 {
		m.Flags = append(m.Flags, FlagNegativeMargin)
	}
	if m.UnpricedCalls > 0 {
		m.Flags = append(m.Flags, FlagUnpricedCalls)
		var u, c apd.Decimal
		u.SetInt64(m.UnpricedCalls)
		c.SetInt64(m.Calls)
		m.UnpricedPct = *pct(&u, &c)
	}
	m.ByFeature, m.ByModel = groups(a.features), groups(a.models)
}

func groups(m map[string]*Group) []Group {
	out := make([]Group, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// pct is num/den × 100 rounded half-even to two decimals; nil when den is 0.
func pct(num, den *apd.Decimal) *apd.Decimal {
	if den.Sign() == 0 {
		return nil
	}
	var q apd.Decimal
	_, _ = ratio.Quo(&q, num, den)
	_, _ = ratio.Mul(&q, &q, apd.New(100, 0))
	_, _ = ratio.Quantize(&q, &q, -2)
	return &q
}

// segments groups tenants by plan ("" : no plan) and marks heavy users.
func segments(ts []TenantMargin) []PlanSegment {
	byPlan := map[string][]int{}
	for i := range ts {
		byPlan[ts[i].Plan] = append(byPlan[ts[i].Plan], i)
	}
	names := make([]string, 0, len(byPlan))
	for n := range byPlan {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []PlanSegment
	for _, n := range names {
		idx := byPlan[n]
		seg := PlanSegment{Plan: n, Tenants: len(idx)}
		costs := make([]apd.Decimal, 0, len(idx))
		for _, i := range idx {
			add(&seg.RevenueUSD, &ts[i].RevenueUSD)
			add(&seg.CostUSD, &ts[i].CostUSD)
			costs = append(costs, ts[i].CostUSD)
		}
		_ = money.Sub(&seg.MarginUSD, &seg.RevenueUSD, &seg.CostUSD)
		seg.MarginPct = pct(&seg.MarginUSD, &seg.RevenueUSD)
		sort.Slice(costs, func(i, j int) bool { return costs[i].Cmp(&costs[j]) < 0 })
		k := len(costs)
		if k%2 == 1 {
			seg.MedianCostUSD = costs[k/2]
		} else {
			var s apd.Decimal
			_ = money.Add(&s, &costs[k/2-1], &costs[k/2])
			_, _ = ratio.Quo(&seg.MedianCostUSD, &s, apd.New(2, 0)) // halving a decimal is exact
		}
		// Heavy: above twice the median, among at least three tenants.
		if k >= 3 {
			var twice apd.Decimal
			_ = money.Add(&twice, &seg.MedianCostUSD, &seg.MedianCostUSD)
			for _, i := range idx {
				if ts[i].CostUSD.Cmp(&twice) > 0 {
					seg.HeavyUsers = append(seg.HeavyUsers, ts[i].Tenant)
					ts[i].Flags = append(ts[i].Flags, FlagHeavyUser)
				}
			}
		}
		out = append(out, seg)
	}
	return out
}
