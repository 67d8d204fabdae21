package entitlement

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

var nov = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

func rec(id, tenant, plan, revenue string) usage.Record {
	return usage.Record{EventID: id, Time: nov, TenantID: tenant, Plan: plan, RevenueUSD: revenue, CostUSD: revenue,
		Provider: "openai", CatalogProvider: "openai", CatalogModel: "gpt-4o-mini", Operation: "chat",
		InputTokens: 100, OutputTokens: 10, PricingStatus: usage.StatusPriced, Billable: true}
}

func dec(s string) apd.Decimal { return money.MustParse(s) }

func text(d apd.Decimal) string { return money.Format(&d) }

// splitText renders a split as "included=… grants=[id:amount …] overage=… usd=…".
func splitText(s Split) string {
	if s.Unmetered {
		return s.Allowance + " unmetered"
	}
	out := fmt.Sprintf("%s q=%s included=%s", s.Allowance, text(s.Quantity), text(s.Included))
	for _, g := range s.Grants {
		out += fmt.Sprintf(" %s=%s", g.Grant, text(g.Amount))
	}
	if s.Overage.Sign() > 0 {
		out += " overage=" + text(s.Overage)
		if s.OverageUnpriced {
			out += " usd=unpriced"
		} else {
			out += " usd=" + text(s.OverageUSD)
		}
	}
	return out
}

func apply(t *testing.T, b *Book, seq int64, r usage.Record) []string {
	t.Helper()
	sps, err := b.Apply(seq, &r)
	require.NoError(t, err)
	var out []string
	for _, s := range sps {
		out = append(out, splitText(s))
	}
	return out
}

// TestAllocationOrder: included allowance, then grants by priority then
// expiry, then overage priced at the rate-card revenue (pro-rated for the
// call that straddles).
func TestAllocationOrder(t *testing.T) {
	b := NewBook(loadTestPlans(t))
	dec1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b.AddGrant(&Grant{ID: "late", Tenant: "initech", Meter: MeterCredits, Amount: dec("2500"), Priority: 1, Expires: dec1.AddDate(0, 1, 0)})
	b.AddGrant(&Grant{ID: "soon", Tenant: "initech", Meter: MeterCredits, Amount: dec("2000"), Priority: 1, Expires: dec1})
	b.AddGrant(&Grant{ID: "first", Tenant: "initech", Meter: MeterCredits, Amount: dec("1000"), Priority: 0})
	// gpt-4o-mini does not match the gpt4o-output filter ("gpt-4o*" does match "gpt-4o-mini"): see below.
	want := [][]string{
		{"credits q=4000 included=4000"},
		{"credits q=4000 included=4000"},
		{"credits q=4000 included=2000 first=1000 soon=1000"},
		{"credits q=4000 included=0 soon=1000 late=2500 overage=500 usd=0.5"},
		{"credits q=3000 included=0 overage=3000 usd=3"},
		{"credits q=0.001 included=0 overage=0.001 usd=0.000001"},
	}
	revenues := []string{"4", "4", "4", "4", "3", "0.000001"}
	for i, rev := range revenues {
		r := rec(fmt.Sprint(i), "initech", "pro", rev)
		r.CatalogModel = "claude-sonnet-4" // outside the gpt4o-output filter
		assert.Equal(t, want[i], apply(t, b, int64(i+1), r), "record %d", i)
	}
	bal := b.Balances[BalanceKey{Tenant: "initech", Period: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Allowance: "credits"}]
	require.NotNil(t, bal)
	assert.Equal(t, "19000.001", text(bal.Used))
	assert.Equal(t, "10000", text(bal.Included))
	assert.Equal(t, "5500", text(bal.Granted))
	assert.Equal(t, "3500.001", text(bal.Overage))
	assert.Equal(t, "3.500001", text(bal.OverageUSD))
	assert.Equal(t, int64(6), bal.Calls)
	assert.Equal(t, "pro", bal.Plan)
	assert.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), bal.End)
	for _, g := range b.Grants["initech"] {
		r := g.Remaining()
		assert.Equal(t, "0", text(r), g.ID)
	}
}

// TestHardTokenAllowanceWithOveragePrice: a filtered tokens allowance with a
// per-unit overage price; calls outside the filter do not count.
func TestHardTokenAllowanceWithOveragePrice(t *testing.T) {
	b := NewBook(loadTestPlans(t))
	r := rec("a", "initech", "pro", "0.01")
	r.CatalogModel, r.OutputTokens = "gpt-4o", 600
	assert.Equal(t, []string{"credits q=10 included=10", "gpt4o-output q=600 included=600"}, apply(t, b, 1, r))
	r.EventID = "b"
	assert.Equal(t, []string{"credits q=10 included=10", "gpt4o-output q=600 included=400 overage=200 usd=0.004"}, apply(t, b, 2, r))
	r.EventID, r.Billable = "c", false // billable_only
	assert.Equal(t, []string{"credits q=10 included=10"}, apply(t, b, 3, r))
	r.EventID, r.Billable, r.CatalogProvider = "d", true, "azure" // provider filter
	assert.Equal(t, []string{"credits q=10 included=10"}, apply(t, b, 4, r))
}

// TestUnmeteredIsCountedNotZero: a call without revenue has no credits; it is
// counted as unmetered, never allocated as 0. Tokens and calls still count.
func TestUnmeteredIsCountedNotZero(t *testing.T) {
	b := NewBook(loadTestPlans(t))
	r := rec("a", "globex", "", "")
	r.CostUSD, r.PricingStatus = "", usage.StatusUnpriced
	r.Time = time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, []string{"calls q=1 included=1", "spend unmetered"}, apply(t, b, 1, r))
	bal := b.Balances[BalanceKey{Tenant: "globex", Period: time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), Allowance: "spend"}]
	require.NotNil(t, bal)
	assert.Equal(t, int64(1), bal.Calls)
	assert.Equal(t, int64(1), bal.Unmetered)
	assert.Equal(t, "0", text(bal.Used))

	// Overage by rate card without revenue: counted as unpriced overage.
	b2 := NewBook(loadTestPlans(t))
	for i := range 2 {
		r := rec(fmt.Sprint(i), "globex", "", "")
		r.CostUSD = "1"
		got := apply(t, b2, int64(i+1), r)
		if i == 1 {
			assert.Equal(t, []string{"calls q=1 included=1", "spend q=1 included=0.5 overage=0.5 usd=unpriced"}, got)
		}
	}
}

func TestCallsOverage(t *testing.T) {
	b := NewBook(loadTestPlans(t))
	var last []string
	for i := range 5 {
		last = apply(t, b, int64(i+1), rec(fmt.Sprint(i), "globex", "", "0"))
	}
	assert.Equal(t, []string{"calls q=1 included=0 overage=1 usd=0.5", "spend q=0 included=0"}, last)
	bal := b.Balances[BalanceKey{Tenant: "globex", Period: time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), Allowance: "calls"}]
	assert.Equal(t, "1", text(bal.OverageUSD))
	assert.Equal(t, "2", text(bal.Overage))
}

// TestGrantWindows: a grant applies to calls stored after it was created, up
// to its void, within its effective and expiry times.
func TestGrantWindows(t *testing.T) {
	ps := loadTestPlans(t)
	ps.Tenants["initech"] = &Tenant{Plan: "pro", Amounts: map[string]apd.Decimal{"credits": dec("0")}}
	for _, tc := range []struct {
		name string
		g    Grant
		seq  int64
		at   time.Time
		want string
	}{
		{"created after the call was stored", Grant{AfterSeq: 5}, 5, nov, "credits q=1000 included=0 overage=1000 usd=1"},
		{"created before", Grant{AfterSeq: 5}, 6, nov, "credits q=1000 included=0 g=1000"},
		{"voided at the call", Grant{VoidedSeq: 6}, 6, nov, "credits q=1000 included=0 g=1000"},
		{"voided before", Grant{VoidedSeq: 6}, 7, nov, "credits q=1000 included=0 overage=1000 usd=1"},
		{"not yet effective", Grant{Effective: nov.Add(time.Second)}, 1, nov, "credits q=1000 included=0 overage=1000 usd=1"},
		{"effective", Grant{Effective: nov}, 1, nov, "credits q=1000 included=0 g=1000"},
		{"expired", Grant{Expires: nov}, 1, nov, "credits q=1000 included=0 overage=1000 usd=1"},
		{"other meter", Grant{Meter: MeterTokens}, 1, nov, "credits q=1000 included=0 overage=1000 usd=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBook(ps)
			g := tc.g
			g.ID, g.Tenant, g.Amount = "g", "initech", dec("5000")
			if g.Meter == "" {
				g.Meter = MeterCredits
			}
			b.AddGrant(&g)
			r := rec("x", "initech", "", "1")
			r.Time = tc.at
			r.CatalogModel = "o3"
			assert.Equal(t, []string{tc.want}, apply(t, b, tc.seq, r))
		})
	}
}

// TestTrialEnded: after the plan's end no included allowance is left.
func TestTrialEnded(t *testing.T) {
	b := NewBook(loadTestPlans(t))
	r := rec("a", "trialco", "", "1")
	r.CatalogModel = "o3"
	r.Time = time.Date(2026, 11, 19, 23, 59, 59, 0, time.UTC)
	assert.Equal(t, []string{"credits q=1000 included=1000"}, apply(t, b, 1, r))
	r.EventID, r.Time = "b", time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, []string{"credits q=1000 included=0 overage=1000 usd=1"}, apply(t, b, 2, r))
}

func TestProrateRounding(t *testing.T) {
	a := &Allowance{Overage: OverageRateCard}
	r := usage.Record{RevenueUSD: "1"}
	q, over := dec("3"), dec("1")
	usd, ok, err := overageUSD(a, &r, &over, &q)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "0.333333333333", text(usd))
	over = dec("2")
	usd, _, _ = overageUSD(a, &r, &over, &q)
	assert.Equal(t, "0.666666666667", text(usd), "half-even at 12 digits")
}

func TestCheck(t *testing.T) {
	ps := loadTestPlans(t)
	b := NewBook(ps)
	// free: 100 credits, hard, gpt-4o-mini only.
	r := rec("a", "initech", "", "0.09")
	_, err := b.Apply(1, &r)
	require.NoError(t, err)
	req := CheckRequest{Tenant: "initech", Provider: "openai", Model: "gpt-4o-mini", At: nov}
	res := b.Check(req)
	assert.True(t, res.Allowed)
	assert.Equal(t, ReasonOK, res.Reason)
	assert.Equal(t, "free", res.Plan)
	assert.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), res.ResetsAt)
	require.Len(t, res.Allowances, 1)
	assert.Equal(t, "10", text(res.Allowances[0].Remaining))

	req.Model = "gpt-4o"
	res = b.Check(req)
	assert.False(t, res.Allowed)
	assert.Equal(t, ReasonModel, res.Reason)
	assert.Equal(t, `model openai/gpt-4o is not in plan "free"`, res.Detail)

	r.EventID, r.RevenueUSD = "b", "0.02" // 20 credits: 10 included, 10 over the hard limit
	_, err = b.Apply(2, &r)
	require.NoError(t, err)
	req.Model = "gpt-4o-mini"
	res = b.Check(req)
	assert.False(t, res.Allowed)
	assert.Equal(t, ReasonLimitReached, res.Reason)
	assert.Equal(t, `allowance "credits" (hard limit 100 credits) is used up until 2026-12-01T00:00:00Z`, res.Detail)
	assert.Equal(t, "0", text(res.Allowances[0].Remaining))

	// A grant reopens it; next month resets it.
	b.AddGrant(&Grant{ID: "g", Tenant: "initech", Meter: MeterCredits, Amount: dec("50"), AfterSeq: 2})
	res = b.Check(req)
	assert.True(t, res.Allowed)
	assert.Equal(t, "50", text(res.Allowances[0].Remaining))
	req.At = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	b.Grants["initech"] = nil
	res = b.Check(req)
	assert.True(t, res.Allowed)
	assert.Equal(t, "100", text(res.Allowances[0].Remaining))

	res = b.Check(CheckRequest{Tenant: "trialco", At: time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)})
	assert.False(t, res.Allowed)
	assert.Equal(t, ReasonPlanEnded, res.Reason)
	assert.Equal(t, `plan "pro" ended at 2026-11-20T00:00:00Z`, res.Detail)

	ps.DefaultPlan = ""
	res = b.Check(CheckRequest{Tenant: "nobody", At: nov})
	assert.False(t, res.Allowed)
	assert.Equal(t, ReasonNoPlan, res.Reason)
}

func TestSortGrants(t *testing.T) {
	e := func(d int) time.Time { return nov.AddDate(0, 0, d) }
	gs := []*Grant{
		{ID: "never-p0", Priority: 0},
		{ID: "d5-p1", Priority: 1, Expires: e(5)},
		{ID: "d2-p1-b", Priority: 1, Expires: e(2), AfterSeq: 9},
		{ID: "d2-p1-a", Priority: 1, Expires: e(2), AfterSeq: 3},
		{ID: "d1-p0", Priority: 0, Expires: e(1)},
		{ID: "never-p1", Priority: 1},
	}
	SortGrants(gs)
	var ids []string
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	assert.Equal(t, []string{"d1-p0", "never-p0", "d2-p1-a", "d2-p1-b", "d5-p1", "never-p1"}, ids)
}

// TestUpgradeWithinPeriod: after a change of plan the new amount applies,
// and what was used so far counts against it.
func TestUpgradeWithinPeriod(t *testing.T) {
	b := NewBook(loadTestPlans(t))
	r := rec("a", "initech", "free", "0.15") // 150 credits: 100 included (free), 50 over
	r.CatalogModel = "o3"
	assert.Equal(t, []string{"credits q=150 included=100 overage=50 usd=0.05"}, apply(t, b, 1, r))
	r.EventID, r.Plan = "b", "pro"
	assert.Equal(t, []string{"credits q=150 included=150"}, apply(t, b, 2, r))
	bal := b.Balances[BalanceKey{Tenant: "initech", Period: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Allowance: "credits"}]
	assert.Equal(t, "pro", bal.Plan)
	assert.Equal(t, "10000", text(bal.Amount))
	assert.Equal(t, "250", text(bal.Included))
}
