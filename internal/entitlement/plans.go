// Package entitlement is what a tenant may use and what it has used: plans
// with included allowances, limits and overage, prepaid or promotional grants,
// and the allocation of each recorded call to included allowance, grants and
// overage. It is pure: the stores keep its state in the ledger's transaction
// (package balances), the usage service asks it questions.
//
// A plans file is native YAML:
//
//	default_plan: free
//	plans:
//	  pro:
//	    monthly_fee: "99"
//	    billing_period: calendar_month    # or anchor_day (the tenant's anchor_day)
//	    credits_per_usd: "100"            # credits meter: a record's credits, else revenue_usd × credits_per_usd
//	    models: ["openai/gpt-4o*"]        # allowed provider/model globs; none = all
//	    allowances:
//	      - name: credits
//	        meter: credits                # credits | tokens | cost_usd | calls
//	        amount: "10000"
//	        limit: soft                   # hard: check says no when exhausted
//	        overage: rate_card            # or overage_price: "0.012" per unit
//	        filter: {feature: "chat*", model: "gpt-*", provider: openai, operation: chat, billable_only: true}
//	    alerts: {thresholds: ["50", "80", "100"]}   # see Alerts; these are the defaults
//	tenants:
//	  acme: {plan: pro, anchor_day: 15, ends: "2026-12-31T00:00:00Z", amounts: {credits: "20000"}}
package entitlement

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.yaml.in/yaml/v3"

	"github.com/genaimeter/genaimeter/internal/money"
)

// Meters an allowance can count.
const (
	MeterCredits = "credits"  // the record's credits, else revenue_usd × the plan's credits_per_usd
	MeterTokens  = "tokens"   // one token bucket of the record
	MeterCostUSD = "cost_usd" // our cost of the call
	MeterCalls   = "calls"    // one per call
)

// Token buckets of the tokens meter.
var tokenBuckets = []string{"input", "output", "cache_read", "cache_write", "reasoning", "total"}

// Limit kinds.
const (
	LimitHard = "hard" // check says no once included allowance and grants are used up
	LimitSoft = "soft" // usage beyond them is overage
)

// Billing periods.
const (
	PeriodCalendarMonth = "calendar_month"
	PeriodAnchorDay     = "anchor_day"
)

// Overage pricing.
const (
	OverageRateCard = "rate_card" // the rate-card revenue of the usage beyond the allowance
)

// Filter selects the calls an allowance counts. Empty fields match anything.
type Filter struct {
	Feature      string // glob on the record's feature
	Model        string // glob on the model (catalog model, else response, else request model)
	Provider     string // glob on the provider (catalog provider, else provider)
	Operation    string // exact operation (chat, embeddings, ...)
	BillableOnly bool
}

// Allowance is an amount of one meter included per billing period.
type Allowance struct {
	Name   string
	Meter  string
	Bucket string // tokens meter only
	Amount apd.Decimal
	Limit  string
	// Exactly one way to price overage: OverageRateCard, or OveragePrice per
	// unit of the meter (HasOveragePrice).
	Overage         string
	OveragePrice    apd.Decimal
	HasOveragePrice bool
	Filter          Filter
}

// Plan is what a tenant subscribes to.
type Plan struct {
	Name          string
	MonthlyFee    apd.Decimal
	BillingPeriod string
	CreditsPerUSD apd.Decimal
	HasCredits    bool
	Models        []string // provider/model globs; empty: every model
	Allowances    []Allowance
	Alerts        Alerts
}

// Tenant holds per-tenant overrides.
type Tenant struct {
	Plan      string
	AnchorDay int       // 1..31, for anchor_day plans (clamped to short months)
	Ends      time.Time // trials: the plan ends then (zero: never)
	Amounts   map[string]apd.Decimal
}

// Plans is a parsed, validated plans file. It is immutable.
type Plans struct {
	DefaultPlan string
	Plans       map[string]*Plan
	Tenants     map[string]*Tenant
}

// Parse reads and validates a plans file. Errors say line:column, the key
// and the value.
func Parse(data []byte) (*Plans, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("plans file is empty")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("plans file has no content")
	}
	p := &parser{}
	ps := p.file(doc.Content[0])
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return ps, nil
}

type parser struct{ errs []error }

func (p *parser) errf(n *yaml.Node, where, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%d:%d: %s: %s", n.Line, n.Column, where, fmt.Sprintf(format, args...)))
}

// fields returns the mapping's entries in order, reporting keys not in known.
func (p *parser) fields(n *yaml.Node, where string, known ...string) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.errf(n, where, "want a mapping, got %s", describe(n))
		return nil
	}
	var out [][2]*yaml.Node
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errf(k, where, "key must be a string, got %s", describe(k))
			continue
		}
		if seen[k.Value] {
			p.errf(k, where+"."+k.Value, "given twice")
			continue
		}
		seen[k.Value] = true
		if known != nil && !slices.Contains(known, k.Value) {
			p.errf(k, where, "unknown key %q (want %s)", k.Value, strings.Join(known, ", "))
			continue
		}
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out
}

func (p *parser) str(n *yaml.Node, where string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errf(n, where, "want a string, got %s", describe(n))
		return ""
	}
	return n.Value
}

func (p *parser) dec(n *yaml.Node, where string) apd.Decimal {
	s := p.str(n, where)
	if s == "" {
		return apd.Decimal{}
	}
	d, err := money.Parse(s)
	if err != nil {
		p.errf(n, where, "%q is not a decimal", s)
		return d
	}
	if d.Negative && !d.IsZero() {
		p.errf(n, where, "must be >= 0, got %q", s)
	}
	return d
}

func (p *parser) file(root *yaml.Node) *Plans {
	ps := &Plans{Plans: map[string]*Plan{}, Tenants: map[string]*Tenant{}}
	var defNode, tenantsNode *yaml.Node
	for _, kv := range p.fields(root, "plans file", "default_plan", "plans", "tenants") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "default_plan":
			ps.DefaultPlan, defNode = p.str(v, "default_plan"), v
		case "plans":
			for _, pv := range p.fields(v, "plans") {
				pl := p.plan(pv[1], "plans."+pv[0].Value)
				pl.Name = pv[0].Value
				ps.Plans[pl.Name] = pl
			}
		case "tenants":
			tenantsNode = v
		}
	}
	if len(ps.Plans) == 0 {
		p.errf(root, "plans", "at least one plan is required")
	}
	if defNode != nil && ps.Plans[ps.DefaultPlan] == nil {
		p.errf(defNode, "default_plan", "unknown plan %q", ps.DefaultPlan)
	}
	if tenantsNode != nil {
		for _, tv := range p.fields(tenantsNode, "tenants") {
			ps.Tenants[tv[0].Value] = p.tenant(tv[1], "tenants."+tv[0].Value, ps)
		}
	}
	return ps
}

func (p *parser) plan(n *yaml.Node, where string) *Plan {
	pl := &Plan{BillingPeriod: PeriodCalendarMonth, Alerts: DefaultAlerts()}
	for _, kv := range p.fields(n, where, "monthly_fee", "billing_period", "credits_per_usd", "models", "allowances", "alerts") {
		k, v := kv[0], kv[1]
		w := where + "." + k.Value
		switch k.Value {
		case "monthly_fee":
			pl.MonthlyFee = p.dec(v, w)
		case "billing_period":
			pl.BillingPeriod = p.str(v, w)
			if pl.BillingPeriod != PeriodCalendarMonth && pl.BillingPeriod != PeriodAnchorDay {
				p.errf(v, w, "want %s or %s, got %q", PeriodCalendarMonth, PeriodAnchorDay, pl.BillingPeriod)
			}
		case "credits_per_usd":
			pl.CreditsPerUSD, pl.HasCredits = p.dec(v, w), true
			if pl.CreditsPerUSD.IsZero() {
				p.errf(v, w, "must be > 0, got %q", v.Value)
			}
		case "models":
			if v.Kind != yaml.SequenceNode {
				p.errf(v, w, "want a list of provider/model globs, got %s", describe(v))
				continue
			}
			for i, m := range v.Content {
				g := p.str(m, fmt.Sprintf("%s[%d]", w, i))
				if _, err := path.Match(g, ""); err != nil || !strings.Contains(g, "/") {
					p.errf(m, fmt.Sprintf("%s[%d]", w, i), "want a provider/model glob, got %q", g)
				}
				pl.Models = append(pl.Models, g)
			}
		case "alerts":
			pl.Alerts = p.alerts(v, w)
		case "allowances":
			if v.Kind != yaml.SequenceNode {
				p.errf(v, w, "want a list, got %s", describe(v))
				continue
			}
			names := map[string]bool{}
			for i, an := range v.Content {
				aw := fmt.Sprintf("%s[%d]", w, i)
				a := p.allowance(an, aw, pl)
				if a.Name != "" && names[a.Name] {
					p.errf(an, aw+".name", "%q given twice", a.Name)
				}
				names[a.Name] = true
				pl.Allowances = append(pl.Allowances, a)
			}
		}
	}
	for i := range pl.Allowances {
		if pl.Allowances[i].Meter == MeterCredits && !pl.HasCredits {
			p.errf(n, fmt.Sprintf("%s.allowances[%d].meter", where, i), "credits needs the plan's credits_per_usd")
		}
	}
	return pl
}

func (p *parser) allowance(n *yaml.Node, where string, pl *Plan) Allowance {
	a := Allowance{Limit: LimitSoft}
	var hasAmount bool
	var overageNode *yaml.Node
	for _, kv := range p.fields(n, where, "name", "meter", "bucket", "amount", "limit", "overage", "overage_price", "filter") {
		k, v := kv[0], kv[1]
		w := where + "." + k.Value
		switch k.Value {
		case "name":
			a.Name = p.str(v, w)
		case "meter":
			a.Meter = p.str(v, w)
			if !slices.Contains([]string{MeterCredits, MeterTokens, MeterCostUSD, MeterCalls}, a.Meter) {
				p.errf(v, w, "want credits, tokens, cost_usd or calls, got %q", a.Meter)
			}
		case "bucket":
			a.Bucket = p.str(v, w)
			if !slices.Contains(tokenBuckets, a.Bucket) {
				p.errf(v, w, "want one of %s, got %q", strings.Join(tokenBuckets, ", "), a.Bucket)
			}
		case "amount":
			a.Amount, hasAmount = p.dec(v, w), true
		case "limit":
			a.Limit = p.str(v, w)
			if a.Limit != LimitHard && a.Limit != LimitSoft {
				p.errf(v, w, "want hard or soft, got %q", a.Limit)
			}
		case "overage":
			a.Overage, overageNode = p.str(v, w), v
			if a.Overage != OverageRateCard {
				p.errf(v, w, "want rate_card (or give overage_price), got %q", a.Overage)
			}
		case "overage_price":
			a.OveragePrice, a.HasOveragePrice = p.dec(v, w), true
			if overageNode == nil {
				overageNode = v
			}
		case "filter":
			a.Filter = p.filter(v, w)
		}
	}
	if a.Name == "" {
		p.errf(n, where+".name", "required")
	}
	if a.Meter == "" {
		p.errf(n, where+".meter", "required")
	}
	if !hasAmount {
		p.errf(n, where+".amount", "required")
	}
	if a.Meter == MeterTokens && a.Bucket == "" {
		p.errf(n, where+".bucket", "required for meter tokens (one of %s)", strings.Join(tokenBuckets, ", "))
	}
	if a.Meter != MeterTokens && a.Bucket != "" && a.Meter != "" {
		p.errf(n, where+".bucket", "only for meter tokens, got meter %q", a.Meter)
	}
	if a.Overage != "" && a.HasOveragePrice {
		p.errf(overageNode, where, "overage and overage_price are exclusive: give one (rate-card revenue, or a price per unit)")
	}
	if a.Overage == "" && !a.HasOveragePrice {
		a.Overage = OverageRateCard
	}
	return a
}

func (p *parser) filter(n *yaml.Node, where string) Filter {
	var f Filter
	for _, kv := range p.fields(n, where, "feature", "model", "provider", "operation", "billable_only") {
		k, v := kv[0], kv[1]
		w := where + "." + k.Value
		switch k.Value {
		case "feature", "model", "provider":
			g := p.str(v, w)
			if _, err := path.Match(g, ""); err != nil {
				p.errf(v, w, "bad glob %q", g)
			}
			switch k.Value {
			case "feature":
				f.Feature = g
			case "model":
				f.Model = g
			default:
				f.Provider = g
			}
		case "operation":
			f.Operation = p.str(v, w)
		case "billable_only":
			b, err := strconv.ParseBool(p.str(v, w))
			if err != nil {
				p.errf(v, w, "want true or false, got %q", v.Value)
			}
			f.BillableOnly = b
		}
	}
	return f
}

func (p *parser) tenant(n *yaml.Node, where string, ps *Plans) *Tenant {
	t := &Tenant{}
	var amountsNode *yaml.Node
	for _, kv := range p.fields(n, where, "plan", "anchor_day", "ends", "amounts") {
		k, v := kv[0], kv[1]
		w := where + "." + k.Value
		switch k.Value {
		case "plan":
			t.Plan = p.str(v, w)
			if t.Plan != "" && ps.Plans[t.Plan] == nil {
				p.errf(v, w, "unknown plan %q", t.Plan)
			}
		case "anchor_day":
			d, err := strconv.Atoi(p.str(v, w))
			if err != nil || d < 1 || d > 31 {
				p.errf(v, w, "want a day of the month 1..31, got %q", v.Value)
			}
			t.AnchorDay = d
		case "ends":
			s := p.str(v, w)
			ts, err := time.Parse(time.RFC3339, s)
			if err != nil {
				if d, err2 := time.Parse(time.DateOnly, s); err2 == nil {
					ts, err = d, nil
				}
			}
			if err != nil {
				p.errf(v, w, "want an RFC 3339 time or a date (2026-12-31), got %q", s)
			}
			t.Ends = ts.UTC()
		case "amounts":
			amountsNode = v
			t.Amounts = map[string]apd.Decimal{}
			for _, av := range p.fields(v, w) {
				t.Amounts[av[0].Value] = p.dec(av[1], w+"."+av[0].Value)
			}
		}
	}
	if amountsNode != nil {
		pl := ps.Plans[t.Plan]
		for _, name := range slices.Sorted(maps.Keys(t.Amounts)) {
			if pl == nil {
				p.errf(amountsNode, where+".amounts."+name, "needs the tenant's plan")
				break
			}
			if pl.allowance(name) == nil {
				p.errf(amountsNode, where+".amounts."+name, "plan %q has no allowance %q", t.Plan, name)
			}
		}
	}
	return t
}

func (pl *Plan) allowance(name string) *Allowance {
	for i := range pl.Allowances {
		if pl.Allowances[i].Name == name {
			return &pl.Allowances[i]
		}
	}
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}
