package entitlement

import (
	"fmt"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Reasons a check gives.
const (
	ReasonOK           = "ok"
	ReasonNoPlan       = "no_plan"
	ReasonPlanEnded    = "plan_ended"
	ReasonModel        = "model_not_in_plan"
	ReasonLimitReached = "limit_reached"
)

// CheckRequest asks whether a tenant may make a call now.
type CheckRequest struct {
	Tenant   string
	Plan     string // the tenant's plan as billing.plans maps it, if known
	Feature  string
	Provider string
	Model    string
	At       time.Time
}

// AllowanceStatus is one allowance of the tenant's current period.
type AllowanceStatus struct {
	Name      string
	Meter     string
	Limit     string
	Amount    apd.Decimal
	Used      apd.Decimal
	Included  apd.Decimal
	Granted   apd.Decimal
	Overage   apd.Decimal
	Remaining apd.Decimal // included remaining + usable grants
	Matches   bool        // the allowance's filter selects the call asked about
}

// CheckResult is the answer.
type CheckResult struct {
	Allowed     bool
	Reason      string
	Detail      string
	Plan        string
	PeriodStart time.Time
	ResetsAt    time.Time
	Allowances  []AllowanceStatus
}

// Check answers from the book, which must hold the tenant's balances of the
// period containing req.At and its grants. A call may go ahead unless the plan
// has ended, the model is not in the plan, or a hard allowance matching the
// call has nothing left (included or granted).
func (b *Book) Check(req CheckRequest) CheckResult {
	pl, t := b.Plans.PlanFor(req.Tenant, req.Plan)
	if pl == nil {
		return CheckResult{Reason: ReasonNoPlan, Detail: fmt.Sprintf("tenant %q has no plan and there is no default_plan", req.Tenant)}
	}
	start, end := Period(pl, t, req.At)
	res := CheckResult{Allowed: true, Reason: ReasonOK, Plan: pl.Name, PeriodStart: start, ResetsAt: end}
	probe := usage.Record{TenantID: req.Tenant, Feature: req.Feature, Provider: req.Provider, CatalogProvider: req.Provider,
		RequestModel: req.Model, CatalogModel: req.Model, Billable: true}
	for i := range pl.Allowances {
		a := &pl.Allowances[i]
		planAmount := AmountOf(t, a)
		st := AllowanceStatus{Name: a.Name, Meter: a.Meter, Limit: a.Limit, Amount: planAmount}
		if bal := b.Balances[BalanceKey{Tenant: req.Tenant, Period: start, Allowance: a.Name}]; bal != nil {
			// The amount of the plan asked about, not the one the balance
			// was last kept under, raised to what is already included (see
			// Book.balance).
			st.Used, st.Included, st.Granted, st.Overage = bal.Used, bal.Included, bal.Granted, bal.Overage
			if st.Amount.Cmp(&st.Included) < 0 {
				st.Amount.Set(&st.Included)
			}
		}
		var rem apd.Decimal
		_ = money.Sub(&rem, &st.Amount, &st.Included)
		if rem.Negative || (t != nil && !t.Ends.IsZero() && !req.At.Before(t.Ends)) {
			rem.SetInt64(0)
		}
		for _, g := range b.Grants[req.Tenant] {
			// A grant usable now: any future seq, the time asked.
			if g.Meter == a.Meter && g.VoidedSeq == 0 && g.usable(g.AfterSeq+1, req.At) {
				gr := g.Remaining()
				add(&rem, &gr)
			}
		}
		st.Remaining = rem
		st.Matches = matchesProbe(&a.Filter, &probe, req)
		if res.Allowed && st.Matches && a.Limit == LimitHard && rem.Sign() <= 0 {
			res.Allowed, res.Reason = false, ReasonLimitReached
			res.Detail = fmt.Sprintf("allowance %q (hard limit %s %s) is used up until %s", a.Name, planAmount.Text('f'), a.Meter, end.Format(time.RFC3339))
		}
		res.Allowances = append(res.Allowances, st)
	}
	if t != nil && !t.Ends.IsZero() && !req.At.Before(t.Ends) {
		res.Allowed, res.Reason = false, ReasonPlanEnded
		res.Detail = fmt.Sprintf("plan %q ended at %s", pl.Name, t.Ends.Format(time.RFC3339))
	} else if req.Model != "" && !pl.AllowsModel(req.Provider, req.Model) {
		res.Allowed, res.Reason = false, ReasonModel
		res.Detail = fmt.Sprintf("model %s/%s is not in plan %q", req.Provider, req.Model, pl.Name)
	}
	return res
}

// matchesProbe is Filter.matches for a call not made yet: fields the request
// does not give (operation, billable, an empty feature or model) do not
// exclude the allowance, so that a check errs towards the limit.
func matchesProbe(f *Filter, r *usage.Record, req CheckRequest) bool {
	g := *f
	g.Operation, g.BillableOnly = "", false
	if req.Feature == "" {
		g.Feature = ""
	}
	if req.Model == "" {
		g.Model = ""
	}
	if req.Provider == "" {
		g.Provider = ""
	}
	return g.matches(r)
}

// AllowsModel reports whether the plan includes provider/model (every model
// when the plan lists none).
func (pl *Plan) AllowsModel(provider, model string) bool {
	if len(pl.Models) == 0 {
		return true
	}
	for _, g := range pl.Models {
		if glob(g, provider+"/"+model) {
			return true
		}
	}
	return false
}
