package webui

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/finance"
	"github.com/genaimeter/genaimeter/internal/money"
)

// emptyCalls says what to do when there is nothing to show.
const emptyCalls = "No calls in this period yet. Point OTEL_EXPORTER_OTLP_ENDPOINT at the collector's OTLP receiver " +
	"(for example http://localhost:4318) and put the tenant on your spans (tenant.id), or pick another period above."

// Cell is one table cell: text, a link, or a progress bar.
type Cell struct {
	Text       string
	Href       string
	Progress   bool
	Value, Max string
}

// Table is a table of a page; every table can be had as CSV (?csv=NAME).
type Table struct {
	Name, Title string
	Columns     []string
	Numeric     []bool
	Rows        [][]Cell
	Empty       string
	CSV         string
}

func txt(s string) Cell { return Cell{Text: s} }

func newTable(name, title, empty string, cols ...string) *Table {
	t := &Table{Name: name, Title: title, Empty: empty}
	for _, c := range cols {
		num := strings.HasPrefix(c, "#")
		t.Columns = append(t.Columns, strings.TrimPrefix(c, "#"))
		t.Numeric = append(t.Numeric, num)
	}
	return t
}

func (t *Table) add(cells ...Cell) { t.Rows = append(t.Rows, cells) }

// KPI is one headline number.
type KPI struct {
	ID, Label, Value, Note string
	Neg                    bool
}

// usd shows an exact decimal as dollars: every digit kept, at least cents.
func usd(d *apd.Decimal) string {
	s := money.Format(d)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, _ := strings.Cut(s, ".")
	for len(fp) < 2 {
		fp += "0"
	}
	out := "$" + group(ip) + "." + fp
	if neg {
		out = "-" + out
	}
	return out
}

func usdText(s string) string {
	d, err := money.Parse(s)
	if err != nil {
		return s
	}
	return usd(&d)
}

// num shows an exact decimal with thousands separators.
func num(d *apd.Decimal) string {
	s := money.Format(d)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, hasFP := strings.Cut(s, ".")
	out := group(ip)
	if hasFP {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	return out
}

func integer(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + group(s[1:])
	}
	return group(s)
}

func group(ip string) string {
	var b strings.Builder
	for i, c := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// unit names a meter's unit.
func unit(meter string) string {
	switch meter {
	case entitlement.MeterCostUSD:
		return "USD"
	case "":
		return ""
	}
	return meter
}

func progress(used, amount *apd.Decimal, label string) Cell {
	v, m := money.Format(used), money.Format(amount)
	if amount.Sign() <= 0 {
		return txt(label)
	}
	if used.Cmp(amount) > 0 {
		v = m
	}
	return Cell{Progress: true, Value: v, Max: m, Text: label}
}

// period reads ?period=YYYY-MM (this month by default).
func (u *UI) period(r *http.Request) (finance.Period, error) {
	v := r.URL.Query().Get("period")
	if v == "" {
		v = u.o.Now().UTC().Format("2006-01")
	}
	return finance.ParsePeriod(v)
}

// days lists the days of p up to today (or its end).
func days(p finance.Period, now time.Time) []string {
	end := p.End
	if t := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour); t.Before(end) && t.After(p.Start) {
		end = t
	}
	var out []string
	for d := p.Start; d.Before(end); d = d.AddDate(0, 0, 1) {
		out = append(out, d.Format(time.DateOnly))
	}
	return out
}

type dayMoney struct{ cost, rev apd.Decimal }

// sendCSV writes the table named by ?csv= of tables, and says whether it did.
func sendCSV(w http.ResponseWriter, r *http.Request, file string, tables []*Table) bool {
	name := r.URL.Query().Get("csv")
	if name == "" {
		return false
	}
	for _, t := range tables {
		if t.Name != name {
			continue
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", file+"-"+name+".csv"))
		cw := csv.NewWriter(w)
		_ = cw.Write(t.Columns)
		for _, row := range t.Rows {
			rec := make([]string, len(row))
			for i, c := range row {
				rec[i] = csvSafe(c.Text)
			}
			_ = cw.Write(rec)
		}
		cw.Flush()
		return true
	}
	http.Error(w, "no table "+name, http.StatusNotFound)
	return true
}

// csvSafe keeps a spreadsheet from reading a tenant-controlled cell as a
// formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		if _, err := money.Parse(strings.NewReplacer("$", "", ",", "").Replace(s)); err == nil {
			return s // a negative amount
		}
		return "'" + s
	}
	return s
}

func withCSV(r *http.Request, tables []*Table) {
	for _, t := range tables {
		q := r.URL.Query()
		q.Set("csv", t.Name)
		t.CSV = r.URL.Path + "?" + q.Encode()
	}
}

// --- admin overview ---

type adminPage struct {
	page
	Period     string
	Keep       map[string]string
	KPIs       []KPI
	Chart      chartData
	Tables     []*Table
	EmptyCalls string
}

type chartData struct{ View chartView }

func (u *UI) admin(w http.ResponseWriter, r *http.Request, k balances.Key) {
	p, err := u.period(r)
	if err != nil {
		u.fail(w, r, http.StatusBadRequest, "Bad period", err.Error())
		return
	}
	rep, err := finance.MarginReport(ctx(r), u.l, p)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the ledger", err.Error())
		return
	}
	now := u.o.Now()
	pg := adminPage{page: u.page(r, &k), Period: p.Name, EmptyCalls: emptyCalls}
	pg.KPIs = []KPI{
		{ID: "revenue", Label: "Revenue", Value: usd(&rep.RevenueUSD)},
		{ID: "cost", Label: "AI cost", Value: usd(&rep.CostUSD)},
		{ID: "margin", Label: "Margin", Value: usd(&rep.MarginUSD), Neg: rep.MarginUSD.Sign() < 0, Note: pct(rep.MarginPct)},
		{ID: "calls", Label: "Calls", Value: integer(rep.Calls)},
		{ID: "unpriced", Label: "Unpriced calls", Value: integer(rep.UnpricedCalls), Neg: rep.UnpricedCalls > 0, Note: "cost unknown, not in AI cost"},
	}
	// Daily spend and usage revenue, summed over tenants.
	byDay := map[string]*dayMoney{}
	for _, t := range rep.Tenants {
		rows, err := u.l.Usage(ctx(r), t.Tenant, p.Start, p.End, []string{"day"})
		if err != nil {
			u.fail(w, r, http.StatusInternalServerError, "Could not read the ledger", err.Error())
			return
		}
		for _, row := range rows {
			d := byDay[row.Day]
			if d == nil {
				d = &dayMoney{}
				byDay[row.Day] = d
			}
			addDec(&d.cost, &row.CostUSD)
			addDec(&d.rev, &row.Revenue)
		}
	}
	if rep.Calls > 0 {
		pg.Chart = moneyChart(days(p, now), byDay)
	} else {
		pg.Chart = chartData{View: chartView{Empty: true}}
	}
	tenantLink := func(t string) string {
		return Base + "/admin/tenants/" + url.PathEscape(t) + "?period=" + p.Name
	}
	byCost := newTable("tenants", "Tenants by AI cost", emptyCalls, "Tenant", "Plan", "#Calls", "#AI cost", "#Revenue", "#Margin", "#Margin %", "Flags")
	ts := append([]finance.TenantMargin(nil), rep.Tenants...)
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].CostUSD.Cmp(&ts[j].CostUSD) > 0 })
	neg := newTable("negative", "Tenants losing money (negative margin)", "No tenant has a negative margin in this period.",
		"Tenant", "Plan", "#AI cost", "#Revenue", "#Margin")
	for _, t := range ts {
		byCost.add(Cell{Text: t.Tenant, Href: tenantLink(t.Tenant)}, txt(t.Plan), txt(integer(t.Calls)), txt(usd(&t.CostUSD)),
			txt(usd(&t.RevenueUSD)), txt(usd(&t.MarginUSD)), txt(pct(t.MarginPct)), txt(strings.Join(t.Flags, " ")))
	}
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].MarginUSD.Cmp(&ts[j].MarginUSD) < 0 })
	for _, t := range ts {
		if t.MarginUSD.Sign() < 0 {
			neg.add(Cell{Text: t.Tenant, Href: tenantLink(t.Tenant)}, txt(t.Plan), txt(usd(&t.CostUSD)), txt(usd(&t.RevenueUSD)), txt(usd(&t.MarginUSD)))
		}
	}
	models := map[string]*finance.Group{}
	features := map[string]*finance.Group{}
	unpriced := newTable("unpriced", "Unpriced calls (cost unknown: add the model to the price catalog)",
		"Every call in this period was priced.", "Tenant", "Model", "#Unpriced calls", "#Calls")
	for _, t := range rep.Tenants {
		for _, g := range t.ByModel {
			sumGroup(models, g)
			if g.UnpricedCalls > 0 {
				unpriced.add(Cell{Text: t.Tenant, Href: tenantLink(t.Tenant)}, txt(g.Key), txt(integer(g.UnpricedCalls)), txt(integer(g.Calls)))
			}
		}
		for _, g := range t.ByFeature {
			sumGroup(features, g)
		}
	}
	pg.Tables = []*Table{byCost, neg,
		groupTable("models", "AI cost by model", "Model", models),
		groupTable("features", "AI cost by feature", "Feature", features),
		unpriced}
	alerts, err := u.l.Alerts(ctx(r), balances.AlertFilter{Status: balances.AlertOpen}, now)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the alerts", err.Error())
		return
	}
	at := newTable("alerts", "Open alerts", "No open alerts. Thresholds and spike rules are set per plan (alerts: in the plans file).",
		"Fired (UTC)", "Tenant", "Kind", "Subject", "What")
	for _, a := range alerts {
		at.add(txt(a.FiredAt.UTC().Format("2006-01-02 15:04")), Cell{Text: a.Tenant, Href: tenantLink(a.Tenant)}, txt(a.Kind), txt(a.Subject),
			txt(alertWhat(a)))
	}
	pg.Tables = append(pg.Tables, at)
	if sendCSV(w, r, "genaimeter-"+p.Name, pg.Tables) {
		return
	}
	withCSV(r, pg.Tables)
	u.render(w, http.StatusOK, "admin", pg)
}

func pct(d *apd.Decimal) string {
	if d == nil {
		return "n/a"
	}
	return money.Format(d) + " %"
}

func addDec(dst, x *apd.Decimal) { _ = money.Add(dst, dst, x) }

func sumGroup(m map[string]*finance.Group, g finance.Group) {
	s := m[g.Key]
	if s == nil {
		s = &finance.Group{Key: g.Key}
		m[g.Key] = s
	}
	s.Calls += g.Calls
	s.UnpricedCalls += g.UnpricedCalls
	addDec(&s.CostUSD, &g.CostUSD)
	addDec(&s.UsageRevenueUSD, &g.UsageRevenueUSD)
}

func groupTable(name, title, keyCol string, m map[string]*finance.Group) *Table {
	t := newTable(name, title, emptyCalls, keyCol, "#Calls", "#Unpriced", "#AI cost", "#Usage revenue")
	gs := make([]*finance.Group, 0, len(m))
	for _, g := range m {
		gs = append(gs, g)
	}
	sort.Slice(gs, func(i, j int) bool {
		if c := gs[i].CostUSD.Cmp(&gs[j].CostUSD); c != 0 {
			return c > 0
		}
		return gs[i].Key < gs[j].Key
	})
	for _, g := range gs {
		key := g.Key
		if key == "" {
			key = "(none)"
		}
		t.add(txt(key), txt(integer(g.Calls)), txt(integer(g.UnpricedCalls)), txt(usd(&g.CostUSD)), txt(usd(&g.UsageRevenueUSD)))
	}
	return t
}

func moneyChart(ds []string, byDay map[string]*dayMoney) chartData {
	c := Chart{Title: "AI cost, usage revenue and usage margin by day", Unit: "USD", X: ds,
		Series: []Series{{Name: "AI cost", Class: "s-cost"}, {Name: "usage revenue", Class: "s-revenue"}, {Name: "usage margin", Class: "s-margin"}}}
	for _, d := range ds {
		var cost, rev, m apd.Decimal
		if v := byDay[d]; v != nil {
			cost, rev = v.cost, v.rev
		}
		_ = money.Sub(&m, &rev, &cost)
		c.Series[0].Values = append(c.Series[0].Values, money.Format(&cost))
		c.Series[1].Values = append(c.Series[1].Values, money.Format(&rev))
		c.Series[2].Values = append(c.Series[2].Values, money.Format(&m))
	}
	return chartData{View: c.view()}
}

// --- one tenant (admin) ---

type tenantPage struct {
	adminPage
	Tenant       string
	Notice       string
	CustomerLink string
	LinkExpires  string
}

func (u *UI) tenant(w http.ResponseWriter, r *http.Request, k balances.Key) {
	tenant := r.PathValue("tenant")
	p, err := u.period(r)
	if err != nil {
		u.fail(w, r, http.StatusBadRequest, "Bad period", err.Error())
		return
	}
	now := u.o.Now()
	pg := tenantPage{adminPage: adminPage{page: u.page(r, &k), Period: p.Name, EmptyCalls: emptyCalls}, Tenant: tenant,
		Notice: r.URL.Query().Get("notice")}
	pg.Title = u.o.Title + " · " + tenant
	m, err := finance.Tenant(ctx(r), u.l, p, tenant)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the ledger", err.Error())
		return
	}
	if m != nil {
		pg.KPIs = []KPI{
			{ID: "revenue", Label: "Revenue", Value: usd(&m.RevenueUSD)},
			{ID: "cost", Label: "AI cost", Value: usd(&m.CostUSD)},
			{ID: "margin", Label: "Margin", Value: usd(&m.MarginUSD), Neg: m.MarginUSD.Sign() < 0, Note: pct(m.MarginPct)},
			{ID: "calls", Label: "Calls", Value: integer(m.Calls)},
			{ID: "unpriced", Label: "Unpriced calls", Value: integer(m.UnpricedCalls), Neg: m.UnpricedCalls > 0},
		}
	}
	tables, chart, err := u.usageTables(r, tenant, p, true, new(apd.Decimal))
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the ledger", err.Error())
		return
	}
	pg.Chart = chart
	st, err := u.l.Status(ctx(r), tenant, asOf(p, now))
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the balances", err.Error())
		return
	}
	pg.Tables = append(pg.Tables, allowanceTable(st), grantTable(st, true))
	pg.Tables = append(pg.Tables, tables...)
	if m != nil {
		pg.Tables = append(pg.Tables, invoiceTable(m.Invoice(p, now)))
	}
	calls, err := u.latestCalls(r, tenant, p)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the calls", err.Error())
		return
	}
	pg.Tables = append(pg.Tables, calls)
	if sendCSV(w, r, "genaimeter-"+tenant+"-"+p.Name, pg.Tables) {
		return
	}
	withCSV(r, pg.Tables)
	link, exp := u.CustomerLink(tenant)
	pg.CustomerLink, pg.LinkExpires = link, exp.Format("2006-01-02 15:04 UTC")
	u.render(w, http.StatusOK, "tenant", pg)
}

// usageTables are the tenant's usage by day (with the chart), feature and
// model; withCost adds our AI cost (admin pages only).
func (u *UI) usageTables(r *http.Request, tenant string, p finance.Period, withCost bool, total *apd.Decimal) ([]*Table, chartData, error) {
	var out []*Table
	var chart chartData
	for _, by := range []string{"day", "feature", "model"} {
		rows, err := u.l.Usage(ctx(r), tenant, p.Start, p.End, []string{by})
		if err != nil {
			return nil, chart, err
		}
		cols := []string{map[string]string{"day": "Day (UTC)", "feature": "Feature", "model": "Model"}[by], "#Calls", "#Input tokens", "#Output tokens"}
		if withCost {
			cols = append(cols, "#AI cost", "#Usage revenue", "#Unpriced")
		} else {
			cols = append(cols, "#Usage charges")
		}
		t := newTable("by_"+by, "Usage by "+by, emptyCalls, cols...)
		revenue := map[string]string{}
		for _, row := range rows {
			key := map[string]string{"day": row.Day, "feature": row.Feature, "model": row.Provider + "/" + row.Model}[by]
			if key == "" {
				key = "(none)"
			}
			cells := []Cell{txt(key), txt(integer(row.Calls)), txt(integer(row.Input)), txt(integer(row.Output))}
			if withCost {
				cells = append(cells, txt(usd(&row.CostUSD)), txt(usd(&row.Revenue)), txt(integer(row.Unpriced)))
			} else {
				cells = append(cells, txt(usd(&row.Revenue)))
			}
			t.add(cells...)
			revenue[row.Day] = money.Format(&row.Revenue)
			if by == "day" {
				addDec(total, &row.Revenue)
			}
		}
		if by == "day" {
			if len(rows) == 0 {
				chart = chartData{View: chartView{Empty: true}}
			} else {
				ds := days(p, u.o.Now())
				c := Chart{Title: "Usage charges by day", Unit: "USD", X: ds, Series: []Series{{Name: "usage charges", Class: "s-revenue"}}}
				for _, d := range ds {
					v := revenue[d]
					if v == "" {
						v = "0"
					}
					c.Series[0].Values = append(c.Series[0].Values, v)
				}
				chart = chartData{View: c.view()}
			}
		}
		out = append(out, t)
	}
	return out, chart, nil
}

func allowanceTable(st balances.Status) *Table {
	t := newTable("allowances", "Allowances this period", "No plan allowances: this tenant pays as it goes (or has no plan in the plans file).",
		"Allowance", "Used", "#Used", "#Included", "#Granted", "#Remaining", "#Over")
	for _, a := range st.Allowances {
		u := unit(a.Meter)
		t.add(txt(a.Name), progress(&a.Used, &a.Amount, num(&a.Used)+" of "+num(&a.Amount)+" "+u), txt(num(&a.Used)+" "+u),
			txt(num(&a.Included)+" "+u), txt(num(&a.Granted)+" "+u), txt(num(&a.Remaining)+" "+u), txt(num(&a.Overage)+" "+u))
	}
	return t
}

func grantTable(st balances.Status, admin bool) *Table {
	empty := "No grants. Credits bought or given appear here."
	if admin {
		empty = "No grants yet: add one with the form below."
	}
	t := newTable("grants", "Grants", empty, "Grant", "Used", "#Amount", "#Remaining", "Expires (UTC)", "Note")
	for _, g := range st.Grants {
		u := unit(g.Meter)
		if u == "" {
			u = "credits"
		}
		exp := "never"
		if !g.Expires.IsZero() {
			exp = g.Expires.UTC().Format("2006-01-02 15:04")
		}
		if g.Voided {
			exp = "voided"
		}
		t.add(txt(g.ID), progress(&g.Used, &g.Amount, num(&g.Used)+" of "+num(&g.Amount)+" "+u), txt(num(&g.Amount)+" "+u),
			txt(num(&g.Remaining)+" "+u), txt(exp), txt(g.Note))
	}
	return t
}

func invoiceTable(inv *finance.Invoice) *Table {
	title := "Invoice " + inv.Period
	if inv.Preview {
		title += " (preview: the period is still running)"
	}
	t := newTable("invoice", title, "Nothing billed in this period yet.", "Line", "#Quantity", "#Amount")
	for _, l := range inv.Lines {
		t.add(txt(l.Description), txt(l.Quantity), txt(usdText(l.AmountUSD)))
	}
	t.add(txt("Total"), txt(""), txt(usdText(inv.TotalUSD)))
	return t
}

// latestCalls lists the tenant's 25 latest calls of the period.
func (u *UI) latestCalls(r *http.Request, tenant string, p finance.Period) (*Table, error) {
	const n = 25
	// Latest first, read backwards from the tenant's last active day: not
	// the whole period's records of every tenant.
	latest, err := u.l.LatestRecords(ctx(r), tenant, p.Start, p.End, n)
	if err != nil {
		return nil, err
	}
	t := newTable("calls", "Latest calls", emptyCalls, "Time (UTC)", "Trace", "Feature", "Model", "#Input", "#Output", "#AI cost", "#Revenue", "Pricing")
	for _, rec := range latest {
		trace := rec.EventID
		if len(trace) == 48 {
			trace = trace[:32]
		}
		tc := txt(trace)
		if u.o.TraceURL != "" && len(rec.EventID) == 48 {
			tc.Href = strings.ReplaceAll(u.o.TraceURL, "{trace_id}", url.PathEscape(trace))
		}
		model := rec.ResponseModel
		if model == "" {
			model = rec.RequestModel
		}
		t.add(txt(rec.Time.UTC().Format("2006-01-02 15:04:05")), tc, txt(rec.Feature), txt(rec.Provider+"/"+model),
			txt(integer(rec.InputTokens)), txt(integer(rec.OutputTokens)), txt(usdText(rec.CostUSD)), txt(usdText(rec.RevenueUSD)), txt(rec.PricingStatus))
	}
	return t, nil
}

func (u *UI) addGrant(w http.ResponseWriter, r *http.Request, k balances.Key) {
	tenant := r.PathValue("tenant")
	if !u.csrfOK(k, r.PostFormValue("csrf")) {
		u.fail(w, r, http.StatusForbidden, "Forbidden", "missing or wrong CSRF token: reload the page and try again")
		return
	}
	amount, err := money.Parse(strings.TrimSpace(r.PostFormValue("amount")))
	if err != nil || amount.Sign() <= 0 {
		u.fail(w, r, http.StatusBadRequest, "Grant not added", fmt.Sprintf("amount: want a positive decimal, got %q", r.PostFormValue("amount")))
		return
	}
	meter := r.PostFormValue("meter")
	switch meter {
	case "", entitlement.MeterCredits, entitlement.MeterTokens, entitlement.MeterCostUSD, entitlement.MeterCalls:
	default:
		u.fail(w, r, http.StatusBadRequest, "Grant not added", fmt.Sprintf("meter: want credits, tokens, cost_usd or calls, got %q", meter))
		return
	}
	g := &entitlement.Grant{Tenant: tenant, Meter: meter, Amount: amount, Note: r.PostFormValue("note")}
	if v := r.PostFormValue("expires"); v != "" {
		e, err := time.Parse(time.DateOnly, v)
		if err != nil || !e.After(u.o.Now()) {
			u.fail(w, r, http.StatusBadRequest, "Grant not added", fmt.Sprintf("expires: want a future date (2026-12-31), got %q", v))
			return
		}
		g.Expires = e.UTC()
	}
	if err := u.l.CreateGrant(ctx(r), g, k.ID); err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Grant not added", err.Error())
		return
	}
	q := url.Values{"notice": {"grant " + g.ID + " added"}}
	if p := r.URL.Query().Get("period"); p != "" {
		q.Set("period", p)
	}
	http.Redirect(w, r, Base+"/admin/tenants/"+url.PathEscape(tenant)+"?"+q.Encode(), http.StatusSeeOther)
}

// --- customer page ---

type customerPage struct {
	adminPage
	Plan, ResetsAt string
}

// customer is the tenant's own page. Who it is for comes from the signed
// link or the signed-in key, never from a parameter alone: a tenant
// parameter naming another tenant is refused.
func (u *UI) customer(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var tenant string
	var sess *balances.Key
	keep := map[string]string{}
	if q.Has("sig") {
		t, err := u.linkTenant(q)
		if err != nil {
			u.fail(w, r, http.StatusForbidden, "Forbidden", err.Error())
			return
		}
		tenant = t
		for _, n := range []string{"tenant", "exp", "sig"} {
			keep[n] = q.Get(n)
		}
	} else {
		k, ok, err := u.session(r)
		switch {
		case err != nil:
			u.fail(w, r, http.StatusInternalServerError, "Something went wrong", err.Error())
			return
		case !ok:
			http.Redirect(w, r, Base+"/login", http.StatusSeeOther)
			return
		case k.Admin():
			// An admin previews a tenant's page.
			tenant = q.Get("tenant")
			if tenant == "" {
				u.fail(w, r, http.StatusBadRequest, "Which tenant?", "An admin key sees a customer page with ?tenant=ID.")
				return
			}
			keep["tenant"] = tenant
		default:
			if t := q.Get("tenant"); t != "" && t != k.Tenant {
				u.fail(w, r, http.StatusForbidden, "Forbidden", "This key may not see that tenant.")
				return
			}
			tenant = k.Tenant
		}
		sess = &k
	}
	p, err := u.period(r)
	if err != nil {
		u.fail(w, r, http.StatusBadRequest, "Bad period", err.Error())
		return
	}
	now := u.o.Now()
	pg := customerPage{adminPage: adminPage{page: u.page(r, sess), Period: p.Name, Keep: keep, EmptyCalls: emptyCalls}}
	pg.Title = u.o.Title + " · " + tenant
	st, err := u.l.Status(ctx(r), tenant, asOf(p, now))
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the balances", err.Error())
		return
	}
	st = withoutAICost(st)
	pg.Plan = st.Plan
	if !st.ResetsAt.IsZero() {
		pg.ResetsAt = st.ResetsAt.UTC().Format("2006-01-02 15:04 UTC")
	}
	inv, err := finance.InvoiceOf(ctx(r), u.l, p, tenant, now)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the invoice", err.Error())
		return
	}
	if inv != nil {
		pg.KPIs = append(pg.KPIs, KPI{ID: "invoice", Label: "Invoice so far", Value: usdText(inv.TotalUSD), Note: "in your prices"},
			KPI{ID: "calls", Label: "Calls", Value: integer(inv.Calls)})
	}
	for _, a := range st.Allowances {
		pg.KPIs = append(pg.KPIs, KPI{ID: "remaining-" + a.Name, Label: "Remaining: " + a.Name, Value: num(&a.Remaining) + " " + unit(a.Meter),
			Note: "of " + num(&a.Amount) + " " + unit(a.Meter), Neg: a.Remaining.Sign() <= 0})
	}
	var charges apd.Decimal
	tables, chart, err := u.usageTables(r, tenant, p, false, &charges)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, "Could not read the ledger", err.Error())
		return
	}
	pg.Chart = chart
	pg.KPIs = append(pg.KPIs, KPI{ID: "charges", Label: "Usage at your prices", Value: usd(&charges), Note: "this period, before allowances"})
	pg.Tables = append(pg.Tables, allowanceTable(st), grantTable(st, false))
	pg.Tables = append(pg.Tables, tables...)
	if inv != nil {
		pg.Tables = append(pg.Tables, invoiceTable(inv.ForTenant()))
	}
	if sendCSV(w, r, "usage-"+p.Name, pg.Tables) {
		return
	}
	withCSV(r, pg.Tables)
	u.render(w, http.StatusOK, "customer", pg)
}

// withoutAICost is st as its tenant may see it: allowances and grants metered
// in AI cost (cost_usd) count our cost of the calls, which the customer page
// never shows, so they are left out.
func withoutAICost(st balances.Status) balances.Status {
	allowances := st.Allowances[:0:0]
	for _, a := range st.Allowances {
		if a.Meter != entitlement.MeterCostUSD {
			allowances = append(allowances, a)
		}
	}
	grants := st.Grants[:0:0]
	for _, g := range st.Grants {
		if g.Meter != entitlement.MeterCostUSD {
			grants = append(grants, g)
		}
	}
	st.Allowances, st.Grants = allowances, grants
	return st
}

// asOf is the instant whose balances a page of period p shows: now, or the
// period's last instant for a period that has ended.
func asOf(p finance.Period, now time.Time) time.Time {
	if !now.Before(p.End) {
		return p.End.Add(-time.Nanosecond)
	}
	return now.UTC()
}

// alertWhat says what an alert is about, by kind.
func alertWhat(a balances.Alert) string {
	d := a.Detail
	u := unit(d.Meter)
	switch {
	case d.ThresholdPercent != "":
		return fmt.Sprintf("%s %% reached: %s of %s %s", d.ThresholdPercent, d.Used, d.Amount, u)
	case d.SpendUSD != "":
		out := fmt.Sprintf("AI cost %s in the window against a baseline of %s (k %s, floor %s)", usdText(d.SpendUSD), usdText(d.BaselineUSD), d.K, usdText(d.FloorUSD))
		if d.Feature != "" {
			out = "feature " + d.Feature + ": " + out
		}
		return out
	case d.Reason != "":
		out := d.Reason
		if d.Model != "" {
			out += " (model " + d.Model + ")"
		}
		if d.Used != "" {
			out += fmt.Sprintf("; used %s %s", d.Used, u)
		}
		return out
	}
	return ""
}
