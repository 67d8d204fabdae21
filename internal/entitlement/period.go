package entitlement

import "time"

// PlanFor returns the plan of tenant for a call whose record names recPlan
// (the processor's billing.plans): the tenant's override in the plans file
// first, then recPlan when the plans file knows it, then the default plan.
// It returns nil when none applies.
func (ps *Plans) PlanFor(tenant, recPlan string) (*Plan, *Tenant) {
	t := ps.Tenants[tenant]
	if t != nil && t.Plan != "" {
		return ps.Plans[t.Plan], t
	}
	if pl := ps.Plans[recPlan]; pl != nil {
		return pl, t
	}
	return ps.Plans[ps.DefaultPlan], t
}

// Period returns the billing period [start, end) of pl containing at, in UTC:
// the calendar month, or for anchor_day plans the month starting on the
// tenant's anchor day (clamped to the last day of shorter months; day 1 when
// the tenant sets none).
func Period(pl *Plan, t *Tenant, at time.Time) (start, end time.Time) {
	at = at.UTC()
	anchor := 1
	if pl != nil && pl.BillingPeriod == PeriodAnchorDay && t != nil && t.AnchorDay > 0 {
		anchor = t.AnchorDay
	}
	y, m, _ := at.Date()
	start = anchorIn(y, m, anchor)
	if at.Before(start) {
		start = anchorIn(y, m-1, anchor)
	}
	sy, sm, _ := start.Date()
	return start, anchorIn(sy, sm+1, anchor)
}

// anchorIn is day of month m of year y at 00:00 UTC, clamped to the month's
// last day (an anchor of 31 is the 30th in April).
func anchorIn(y int, m time.Month, day int) time.Time {
	first := time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(day, last)-1)
}
