package finance

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
)

// InvoiceLine is one line of an invoice preview. Amounts are exact decimal
// text.
type InvoiceLine struct {
	Description string `json:"description"`
	Quantity    string `json:"quantity,omitempty"`
	AmountUSD   string `json:"amount_usd"`

	// allowance and meter name the allowance a line is about ("" for the
	// fee and rate-card lines), so that ForTenant can tell AI-cost lines.
	allowance, meter string
}

// Invoice is what a tenant will be billed for a period, so far. It carries
// no cost or margin: it is what a tenant's own key may see.
type Invoice struct {
	Tenant      string        `json:"tenant"`
	Plan        string        `json:"plan,omitempty"`
	Period      string        `json:"period"`
	PeriodStart time.Time     `json:"period_start"`
	PeriodEnd   time.Time     `json:"period_end"`
	Lines       []InvoiceLine `json:"lines"`
	TotalUSD    string        `json:"total_usd"`
	Calls       int64         `json:"calls"`
	// OverageUnpricedCalls are calls beyond an allowance that could not be
	// priced (no rate-card revenue): not in the total, never billed as 0.
	OverageUnpricedCalls int64 `json:"overage_unpriced_calls"`
	// Preview: the period has not ended at the time asked; more calls may come.
	Preview bool `json:"preview"`
}

// InvoiceOf returns the invoice preview of tenant for p at now (nil if the
// tenant has nothing in p).
func InvoiceOf(ctx context.Context, l Ledger, p Period, tenant string, now time.Time) (*Invoice, error) {
	m, err := Tenant(ctx, l, p, tenant)
	if err != nil || m == nil {
		return nil, err
	}
	return m.Invoice(p, now), nil
}

// Invoice is the invoice preview of m.
func (m *TenantMargin) Invoice(p Period, now time.Time) *Invoice {
	inv := &Invoice{Tenant: m.Tenant, Plan: m.Plan, Period: p.Name, PeriodStart: m.PeriodStart, PeriodEnd: m.PeriodEnd,
		Lines: []InvoiceLine{}, TotalUSD: money.Format(&m.RevenueUSD), Calls: m.Calls, OverageUnpricedCalls: m.OverageUnpricedCalls,
		Preview: now.Before(m.PeriodEnd)}
	if m.Plan == "" {
		inv.Lines = append(inv.Lines, InvoiceLine{Description: "usage at rate card", Quantity: fmt.Sprintf("%d calls", m.Calls),
			AmountUSD: money.Format(&m.UsageRevenueUSD)})
		return inv
	}
	inv.Lines = append(inv.Lines, InvoiceLine{Description: fmt.Sprintf("plan %s: monthly fee", m.Plan), AmountUSD: money.Format(&m.PlanFeeUSD)})
	for _, a := range m.Allowances {
		inv.Lines = append(inv.Lines, InvoiceLine{
			Description: fmt.Sprintf("allowance %s: %s of %s %s included", a.Name, money.Format(&a.Included), money.Format(&a.Amount), a.Meter),
			Quantity:    money.Format(&a.Included), AmountUSD: "0", allowance: a.Name, meter: a.Meter})
		if a.Granted.Sign() > 0 {
			inv.Lines = append(inv.Lines, InvoiceLine{Description: fmt.Sprintf("allowance %s: %s %s from grants", a.Name, money.Format(&a.Granted), a.Meter),
				Quantity: money.Format(&a.Granted), AmountUSD: "0", allowance: a.Name, meter: a.Meter})
		}
		if a.Overage.Sign() > 0 {
			inv.Lines = append(inv.Lines, InvoiceLine{Description: fmt.Sprintf("allowance %s: overage %s %s", a.Name, money.Format(&a.Overage), a.Meter),
				Quantity: money.Format(&a.Overage), AmountUSD: money.Format(&a.OverageUSD), allowance: a.Name, meter: a.Meter})
		}
	}
	return inv
}

// ForTenant is the invoice as the tenant itself may see it. An allowance
// metered in AI cost (cost_usd) counts our cost of its calls, which a tenant
// never sees: its included and granted lines (billed 0) are left out, and its
// overage line keeps the amount billed but says no quantity. The total is
// unchanged. inv itself is not modified.
func (inv *Invoice) ForTenant() *Invoice {
	out := *inv
	out.Lines = make([]InvoiceLine, 0, len(inv.Lines))
	for _, l := range inv.Lines {
		if l.meter == entitlement.MeterCostUSD {
			if l.AmountUSD == "0" {
				continue
			}
			l = InvoiceLine{Description: fmt.Sprintf("allowance %s: overage", l.allowance), AmountUSD: l.AmountUSD}
		}
		out.Lines = append(out.Lines, l)
	}
	return &out
}

// --- JSON views (amounts as exact decimal text) ---

// GroupJSON is a Group as JSON.
type GroupJSON struct {
	Key             string `json:"key"`
	Calls           int64  `json:"calls"`
	UnpricedCalls   int64  `json:"unpriced_calls"`
	CostUSD         string `json:"cost_usd"`
	UsageRevenueUSD string `json:"usage_revenue_usd"`
}

// AllowanceJSON is an AllowanceUse as JSON.
type AllowanceJSON struct {
	Name                 string `json:"name"`
	Meter                string `json:"meter"`
	Amount               string `json:"amount"`
	Used                 string `json:"used"`
	Included             string `json:"included"`
	Granted              string `json:"granted"`
	Overage              string `json:"overage"`
	OverageUSD           string `json:"overage_usd"`
	Calls                int64  `json:"calls"`
	UnmeteredCalls       int64  `json:"unmetered_calls"`
	OverageUnpricedCalls int64  `json:"overage_unpriced_calls"`
}

// TenantJSON is a TenantMargin as JSON.
type TenantJSON struct {
	Tenant               string          `json:"tenant"`
	Plan                 string          `json:"plan"`
	PeriodStart          time.Time       `json:"period_start"`
	PeriodEnd            time.Time       `json:"period_end"`
	PlanFeeUSD           string          `json:"plan_fee_usd"`
	Allowances           []AllowanceJSON `json:"allowances"`
	OverageUSD           string          `json:"overage_usd"`
	OverageUnpricedCalls int64           `json:"overage_unpriced_calls"`
	UsageRevenueUSD      string          `json:"usage_revenue_usd"`
	RevenueUSD           string          `json:"revenue_usd"`
	CostUSD              string          `json:"cost_usd"`
	MarginUSD            string          `json:"margin_usd"`
	MarginPct            *string         `json:"margin_pct,omitempty"`
	Calls                int64           `json:"calls"`
	PricedCalls          int64           `json:"priced_calls"`
	UnpricedCalls        int64           `json:"unpriced_calls"`
	UnpricedPct          string          `json:"unpriced_pct"`
	PrevRevenueUSD       string          `json:"prev_revenue_usd"`
	PrevCostUSD          string          `json:"prev_cost_usd"`
	Flags                []string        `json:"flags"`
	ByFeature            []GroupJSON     `json:"by_feature"`
	ByModel              []GroupJSON     `json:"by_model"`
}

// PlanJSON is a PlanSegment as JSON.
type PlanJSON struct {
	Plan          string   `json:"plan"`
	Tenants       int      `json:"tenants"`
	RevenueUSD    string   `json:"revenue_usd"`
	CostUSD       string   `json:"cost_usd"`
	MarginUSD     string   `json:"margin_usd"`
	MarginPct     *string  `json:"margin_pct,omitempty"`
	MedianCostUSD string   `json:"median_cost_usd"`
	HeavyUsers    []string `json:"heavy_users"`
}

// MarginJSON is a Margin as JSON.
type MarginJSON struct {
	Period        string       `json:"period"`
	RevenueUSD    string       `json:"revenue_usd"`
	CostUSD       string       `json:"cost_usd"`
	MarginUSD     string       `json:"margin_usd"`
	MarginPct     *string      `json:"margin_pct,omitempty"`
	Calls         int64        `json:"calls"`
	UnpricedCalls int64        `json:"unpriced_calls"`
	Tenants       []TenantJSON `json:"tenants"`
	Plans         []PlanJSON   `json:"plans"`
}

func f(d *apd.Decimal) string { return money.Format(d) }

func fp(d *apd.Decimal) *string {
	if d == nil {
		return nil
	}
	s := money.Format(d)
	return &s
}

func groupsJSON(gs []Group) []GroupJSON {
	out := make([]GroupJSON, 0, len(gs))
	for i := range gs {
		g := &gs[i]
		out = append(out, GroupJSON{Key: g.Key, Calls: g.Calls, UnpricedCalls: g.UnpricedCalls, CostUSD: f(&g.CostUSD), UsageRevenueUSD: f(&g.UsageRevenueUSD)})
	}
	return out
}

// JSON is m as JSON.
func (m *TenantMargin) JSON() TenantJSON {
	out := TenantJSON{Tenant: m.Tenant, Plan: m.Plan, PeriodStart: m.PeriodStart, PeriodEnd: m.PeriodEnd, PlanFeeUSD: f(&m.PlanFeeUSD),
		Allowances: []AllowanceJSON{}, OverageUSD: f(&m.OverageUSD), OverageUnpricedCalls: m.OverageUnpricedCalls,
		UsageRevenueUSD: f(&m.UsageRevenueUSD), RevenueUSD: f(&m.RevenueUSD), CostUSD: f(&m.CostUSD), MarginUSD: f(&m.MarginUSD),
		MarginPct: fp(m.MarginPct), Calls: m.Calls, PricedCalls: m.PricedCalls, UnpricedCalls: m.UnpricedCalls, UnpricedPct: f(&m.UnpricedPct),
		PrevRevenueUSD: f(&m.PrevRevenueUSD), PrevCostUSD: f(&m.PrevCostUSD), Flags: append([]string{}, m.Flags...),
		ByFeature: groupsJSON(m.ByFeature), ByModel: groupsJSON(m.ByModel)}
	for i := range m.Allowances {
		a := &m.Allowances[i]
		out.Allowances = append(out.Allowances, AllowanceJSON{Name: a.Name, Meter: a.Meter, Amount: f(&a.Amount), Used: f(&a.Used),
			Included: f(&a.Included), Granted: f(&a.Granted), Overage: f(&a.Overage), OverageUSD: f(&a.OverageUSD), Calls: a.Calls,
			UnmeteredCalls: a.Unmetered, OverageUnpricedCalls: a.OverageUnpriced})
	}
	return out
}

// JSON is rep as JSON.
func (rep *Margin) JSON() MarginJSON {
	out := MarginJSON{Period: rep.Period.Name, RevenueUSD: f(&rep.RevenueUSD), CostUSD: f(&rep.CostUSD), MarginUSD: f(&rep.MarginUSD),
		MarginPct: fp(rep.MarginPct), Calls: rep.Calls, UnpricedCalls: rep.UnpricedCalls, Tenants: []TenantJSON{}, Plans: []PlanJSON{}}
	for i := range rep.Tenants {
		out.Tenants = append(out.Tenants, rep.Tenants[i].JSON())
	}
	for i := range rep.Plans {
		s := &rep.Plans[i]
		out.Plans = append(out.Plans, PlanJSON{Plan: s.Plan, Tenants: s.Tenants, RevenueUSD: f(&s.RevenueUSD), CostUSD: f(&s.CostUSD),
			MarginUSD: f(&s.MarginUSD), MarginPct: fp(s.MarginPct), MedianCostUSD: f(&s.MedianCostUSD), HeavyUsers: append([]string{}, s.HeavyUsers...)})
	}
	return out
}
