package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// BillingConfig says which metered calls are billable. Every call is metered
// and keeps its cost whatever the decision: billable is a flag with a reason
// on the record, never a deletion.
type BillingConfig struct {
	// Rules are evaluated in order on each metered call; the first whose
	// condition is true decides, and its name is the billable_reason. A call
	// no rule matches is billable with the reason "default". The conditions
	// see the span after metering (every genaimeter.* attribute but the
	// decision), so besides the span's and the resource's own attributes
	// they can use attributes["genaimeter.tenant_id"], ["genaimeter.plan"],
	// ["genaimeter.user_id"], ["genaimeter.cost_usd"], ["genaimeter.revenue_usd"]...
	// Setting rules replaces the default list; `rules: []` bills every call.
	// Default: one rule, failed_call (status error or error.type set: not
	// billable; its cost is still recorded).
	Rules []BillingRule `mapstructure:"rules"`
	// ErrorMode says what a rule whose condition fails to evaluate does:
	// "ignore" (the default) logs it and goes on to the next rule, "silent"
	// goes on without a log, "propagate" stops the evaluation, flags the call
	// not billable with reason rule_error and returns the error for the batch
	// it came in (the sender sees the failure and may retry; calls let go
	// from the hold go on flagged). Every rule error is counted.
	ErrorMode ottl.ErrorMode `mapstructure:"error_mode"`
	// Plans maps tenants to plans; the plan lands on each record
	// (genaimeter.plan) before the rules run, so rules can use it.
	Plans PlansConfig `mapstructure:"plans"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// BillingRule is one billing decision.
type BillingRule struct {
	// Name is the reason written on the calls the rule decides
	// (genaimeter.billable_reason) and the reason attribute of the decision
	// counter: letters, digits, '_', '.', '-'; unique; not "default" or
	// "rule_error". Required.
	Name string `mapstructure:"name"`
	// Condition is an OTTL condition in the span context (paths as in the
	// filter processor's span conditions: attributes[...], resource.attributes[...],
	// status.code, name, kind...). Required.
	Condition string `mapstructure:"condition"`
	// Billable is the decision when the condition is true. Default: false (a
	// rule excludes calls from billing; a rule with billable: true placed
	// first makes exceptions).
	Billable bool `mapstructure:"billable"`
}

// PlansConfig configures the tenant → plan map.
type PlansConfig struct {
	// File is a YAML mapping of tenant id to plan name (`acme: enterprise`),
	// read at start (a missing or malformed file fails the start) and reloaded
	// when it changes. A changed file that cannot be read keeps the last good
	// map; the failure is logged and counted. Default: "" (no file).
	File string `mapstructure:"file"`
	// DefaultPlan is the plan of tenants the file does not list, and of
	// unattributed calls. Required when file is set. Default: "" (no plan is
	// written on calls without one).
	DefaultPlan string `mapstructure:"default_plan"`
	// ReloadInterval is how often the file is checked for changes; 0 reads it
	// only at start. Default: 30s.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
}

// Reasons the rules do not name.
const (
	reasonDefault   = "default"    // no rule matched
	reasonRuleError = "rule_error" // error_mode propagate: a rule failed to evaluate
)

const defaultPlansReloadInterval = 30 * time.Second

// defaultBillingRules is the list used when billing.rules is not set: a call
// that failed is not billable, and keeps its cost (a provider may charge for a
// partial stream).
func defaultBillingRules() []BillingRule {
	return []BillingRule{{
		Name:      "failed_call",
		Condition: `status.code == STATUS_CODE_ERROR or attributes["error.type"] != nil`,
	}}
}

var ruleNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// validate checks the billing section. OTTL is parsed here with a nop logger
// so that `validate` fails fast; the factory parses it again with the real
// telemetry settings.
func (b *BillingConfig) validate() error {
	var errs error
	seen := map[string]int{}
	for i, r := range b.Rules {
		switch {
		case r.Name == "":
			errs = errors.Join(errs, fmt.Errorf("billing.rules[%d].name: must not be empty", i))
		case !ruleNameRE.MatchString(r.Name):
			errs = errors.Join(errs, fmt.Errorf("billing.rules[%d].name: %q may only hold letters, digits, '_', '.' and '-'", i, r.Name))
		case r.Name == reasonDefault || r.Name == reasonRuleError || r.Name == usage.ReasonPartial:
			errs = errors.Join(errs, fmt.Errorf("billing.rules[%d].name: %q is reserved", i, r.Name))
		default:
			if j, dup := seen[r.Name]; dup {
				errs = errors.Join(errs, fmt.Errorf("billing.rules[%d].name: %q is already the name of billing.rules[%d]", i, r.Name, j))
			}
			seen[r.Name] = i
		}
	}
	// Empty conditions are reported by the parse.
	if _, err := parseBillingRules(b.Rules, component.TelemetrySettings{Logger: zap.NewNop()}); err != nil {
		errs = errors.Join(errs, err)
	}
	switch b.ErrorMode {
	case ottl.IgnoreError, ottl.SilentError, ottl.PropagateError:
	default:
		errs = errors.Join(errs, fmt.Errorf("billing.error_mode: unsupported value %q (supported: ignore, silent, propagate)", b.ErrorMode))
	}
	if b.Plans.File != "" && b.Plans.DefaultPlan == "" {
		errs = errors.Join(errs, errors.New("billing.plans.default_plan: must be set when billing.plans.file is set (it is the plan of tenants the file does not list)"))
	}
	if b.Plans.ReloadInterval < 0 {
		errs = errors.Join(errs, fmt.Errorf("billing.plans.reload_interval: must be >= 0, got %v", b.Plans.ReloadInterval))
	}
	return errs
}
