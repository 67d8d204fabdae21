package finance

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// marginColumns are the columns of the table and CSV forms, one row per tenant.
var marginColumns = []string{"tenant", "plan", "plan_fee_usd", "overage_usd", "usage_revenue_usd", "revenue_usd", "cost_usd",
	"margin_usd", "margin_pct", "calls", "unpriced_calls", "unpriced_pct", "flags"}

func (t *TenantJSON) row() []string {
	pct := ""
	if t.MarginPct != nil {
		pct = *t.MarginPct
	}
	return []string{t.Tenant, t.Plan, t.PlanFeeUSD, t.OverageUSD, t.UsageRevenueUSD, t.RevenueUSD, t.CostUSD, t.MarginUSD, pct,
		strconv.FormatInt(t.Calls, 10), strconv.FormatInt(t.UnpricedCalls, 10), t.UnpricedPct, strings.Join(t.Flags, ",")}
}

// WriteCSV writes one row per tenant.
func (rep *Margin) WriteCSV(w io.Writer) error {
	js := rep.JSON()
	cw := csv.NewWriter(w)
	_ = cw.Write(marginColumns)
	for i := range js.Tenants {
		_ = cw.Write(js.Tenants[i].row())
	}
	cw.Flush()
	return cw.Error()
}

// WriteTable writes the tenants, then the plans, then the totals, aligned.
func (rep *Margin) WriteTable(w io.Writer) error {
	js := rep.JSON()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t\n", strings.ToUpper(strings.Join(marginColumns, "\t")))
	for i := range js.Tenants {
		fmt.Fprintf(tw, "%s\t\n", strings.Join(js.Tenants[i].row(), "\t"))
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "PLAN\tTENANTS\tREVENUE_USD\tCOST_USD\tMARGIN_USD\tMARGIN_PCT\tMEDIAN_COST_USD\tHEAVY_USERS\t\n")
	for _, p := range js.Plans {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", orNone(p.Plan), p.Tenants, p.RevenueUSD, p.CostUSD, p.MarginUSD, deref(p.MarginPct),
			p.MedianCostUSD, strings.Join(p.HeavyUsers, ","))
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "TOTAL %s\trevenue %s\tcost %s\tmargin %s\t%s%%\tcalls %d\tunpriced %d\t\n", js.Period, js.RevenueUSD, js.CostUSD, js.MarginUSD,
		deref(js.MarginPct), js.Calls, js.UnpricedCalls)
	return tw.Flush()
}

// WriteTable writes an invoice preview.
func (inv *Invoice) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	state := "final"
	if inv.Preview {
		state = "preview: the period is not over"
	}
	fmt.Fprintf(tw, "invoice %s, tenant %s, plan %s, %s to %s (%s)\n", inv.Period, inv.Tenant, orNone(inv.Plan),
		inv.PeriodStart.Format("2006-01-02"), inv.PeriodEnd.Format("2006-01-02"), state)
	for _, l := range inv.Lines {
		fmt.Fprintf(tw, "%s\t%s\n", l.Description, l.AmountUSD)
	}
	fmt.Fprintf(tw, "TOTAL USD\t%s\n", inv.TotalUSD)
	if inv.OverageUnpricedCalls > 0 {
		fmt.Fprintf(tw, "not priced: %d overage calls without a rate-card price are not in the total\n", inv.OverageUnpricedCalls)
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}
