package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"errors"
	"fmt"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottlspan"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/filemap"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// billingRule is a parsed BillingRule.
type billingRule struct {
	name     string
	billable bool
	cond     *ottl.Condition[*ottlspan.TransformContext]
}

// parseBillingRules parses every rule's condition; errors name the rule's
// index and carry the OTTL parser's message.
func parseBillingRules(rules []BillingRule, set component.TelemetrySettings) ([]billingRule, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	parser, err := ottlspan.NewParser(ottlfuncs.StandardConverters[*ottlspan.TransformContext](), set)
	if err != nil {
		return nil, fmt.Errorf("billing.rules: creating the OTTL parser: %w", err)
	}
	out := make([]billingRule, 0, len(rules))
	var errs error
	for i, r := range rules {
		if r.Condition == "" {
			errs = errors.Join(errs, fmt.Errorf("billing.rules[%d].condition: must not be empty", i))
			continue
		}
		cond, err := parser.ParseCondition(r.Condition)
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("billing.rules[%d].condition: %w", i, err))
			continue
		}
		out = append(out, billingRule{name: r.Name, billable: r.Billable, cond: cond})
	}
	if errs != nil {
		return nil, errs
	}
	return out, nil
}

// biller decides the plan and the billability of metered calls.
type biller struct {
	logger      *zap.Logger
	rules       []billingRule
	errorMode   ottl.ErrorMode
	plansCfg    PlansConfig
	plans       *filemap.Map // set by start when plans.file is set
	decisions   []decision   // by outcome index, see outcome
	ruleErrAttr []metric.MeasurementOption
	reloadAttrs [2]metric.MeasurementOption // success, failure
}

// decision is one possible outcome of the rules and its counter attributes.
type decision struct {
	billable bool
	reason   string
	attrs    metric.MeasurementOption
}

func newBiller(cfg *BillingConfig, set component.TelemetrySettings) (*biller, error) {
	rules, err := parseBillingRules(cfg.Rules, set)
	if err != nil {
		return nil, err
	}
	b := &biller{logger: set.Logger, rules: rules, errorMode: cfg.ErrorMode, plansCfg: cfg.Plans}
	// Outcomes: one per rule, then no rule matched, then a rule failed under
	// error_mode propagate.
	for _, r := range rules {
		b.decisions = append(b.decisions, decision{billable: r.billable, reason: r.name})
		b.ruleErrAttr = append(b.ruleErrAttr, metric.WithAttributeSet(attribute.NewSet(attribute.String("rule", r.name))))
	}
	b.decisions = append(b.decisions, decision{billable: true, reason: reasonDefault}, decision{billable: false, reason: reasonRuleError},
		decision{billable: true, reason: usage.ReasonPartial})
	for i := range b.decisions {
		d := &b.decisions[i]
		d.attrs = metric.WithAttributeSet(attribute.NewSet(attribute.Bool("billable", d.billable), attribute.String("reason", d.reason)))
	}
	for i, outcome := range []string{"success", "failure"} {
		b.reloadAttrs[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", outcome)))
	}
	return b, nil
}

func (b *biller) defaultOutcome() int   { return len(b.rules) }
func (b *biller) ruleErrorOutcome() int { return len(b.rules) + 1 }

// partialOutcome is the default outcome of a stopped call priced from the
// usage it reported: billable, with its own reason, so that a lower bound is
// never mistaken for a complete call.
func (b *biller) partialOutcome() int { return len(b.rules) + 2 }

// startPlans loads the plan file, if any, and starts watching it. onReload
// counts reloads by outcome (0 success, 1 failure).
func (b *biller) startPlans(onReload func(outcome int)) error {
	path := b.plansCfg.File
	if path == "" {
		return nil
	}
	m, err := filemap.Start(path, filemap.Options{
		Interval: b.plansCfg.ReloadInterval,
		OnReload: func(entries int) {
			b.logger.Info("Reloaded the tenant plans", zap.String("file", path), zap.Int("tenants", entries))
			onReload(0)
		},
		OnError: func(err error) {
			b.logger.Error("Could not reload the tenant plans; the last good plans stay in use", zap.String("file", path), zap.Error(err))
			onReload(1)
		},
	})
	if err != nil {
		return fmt.Errorf("genai_cost: loading billing.plans.file: %w", err)
	}
	b.plans = m
	return nil
}

func (b *biller) stopPlans() { b.plans.Stop() }

// plan is the plan of a tenant: the plan file's entry, else the default plan.
func (b *biller) plan(tenant string) string {
	if b.plans != nil {
		if p, ok := b.plans.Lookup(tenant); ok {
			return p
		}
	}
	return b.plansCfg.DefaultPlan
}

// billingCounts accumulates the billing self-telemetry of one batch.
type billingCounts struct {
	decisions  []int64 // by outcome index
	ruleErrors []int64 // by rule index
	// releasing is set while held calls are let go: a rule error then has no
	// sender to be returned to.
	releasing bool
	// err is the first rule error of the batch under error_mode propagate.
	err error
}

// decide is the billing decision on a metered call: the first rule whose
// condition holds, else the default (partial, for a call stopped before its
// end and priced from what it reported). The rules read the span with the
// meter's other attributes already on it (tenant, plan, cost, completion...),
// see writeMeter.
func (b *biller) decide(ctx context.Context, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, partial bool, n *billingCounts) *decision {
	outcome := b.defaultOutcome()
	if len(b.rules) > 0 {
		outcome = b.evalRules(ctx, rs, ss, span, n)
	}
	if partial && outcome == b.defaultOutcome() {
		outcome = b.partialOutcome()
	}
	if n.decisions == nil {
		n.decisions = make([]int64, len(b.decisions))
	}
	n.decisions[outcome]++
	return &b.decisions[outcome]
}

// evalRules returns the outcome index of the first matching rule.
func (b *biller) evalRules(ctx context.Context, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans, span ptrace.Span, n *billingCounts) int {
	tCtx := ottlspan.NewTransformContext(rs, ss, span)
	defer tCtx.Close()
	for i := range b.rules {
		r := &b.rules[i]
		match, err := r.cond.Eval(ctx, tCtx)
		if err == nil {
			if match {
				return i
			}
			continue
		}
		if n.ruleErrors == nil {
			n.ruleErrors = make([]int64, len(b.rules))
		}
		n.ruleErrors[i]++
		switch b.errorMode {
		case ottl.SilentError:
		case ottl.PropagateError:
			err = fmt.Errorf("genai_cost: billing.rules[%d] (%s): %w", i, r.name, err)
			b.logger.Error("A billing rule failed; the call is flagged not billable (rule_error)",
				zap.String("trace_id", span.TraceID().String()), zap.String("span_id", span.SpanID().String()), zap.Error(err))
			if !n.releasing && n.err == nil {
				n.err = err
			}
			return b.ruleErrorOutcome()
		default:
			b.logger.Warn("A billing rule failed to evaluate; going on to the next rule",
				zap.Int("rule_index", i), zap.String("rule", r.name),
				zap.String("trace_id", span.TraceID().String()), zap.String("span_id", span.SpanID().String()), zap.Error(err))
		}
	}
	return b.defaultOutcome()
}

// countBilling adds one batch's billing counts to the counters.
func (p *costProcessor) countBilling(ctx context.Context, n *billingCounts) {
	for i, k := range n.decisions {
		if k > 0 {
			p.telemetry.ProcessorGenaiCostBillableDecisions.Add(ctx, k, p.billing.decisions[i].attrs)
		}
	}
	for i, k := range n.ruleErrors {
		if k > 0 {
			p.telemetry.ProcessorGenaiCostRuleErrors.Add(ctx, k, p.billing.ruleErrAttr[i])
		}
	}
}

// countPlanReload counts a reload of the plan file by outcome.
func (p *costProcessor) countPlanReload(outcome int) {
	p.telemetry.ProcessorGenaiCostPlanReloads.Add(context.Background(), 1, p.billing.reloadAttrs[outcome])
}
