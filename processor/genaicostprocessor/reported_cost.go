package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/apd/v3"
	"go.opentelemetry.io/collector/confmap"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// ReportedCostConfig says how the cost a span reports (the provider's own
// figure, as OpenRouter returns it, or the instrumentation's estimate) is
// compared with ours, and for which providers it is billed instead of ours.
type ReportedCostConfig struct {
	// Tolerance is the largest difference, in USD, between our cost and the
	// reported one that still counts as matches (reported figures are often
	// rounded floats). Default: 0.000001.
	Tolerance string `mapstructure:"tolerance"`
	// TrustProviders are providers (as normalized on the record's provider,
	// e.g. "openrouter") whose reported cost is the billed cost_usd: the
	// record then says cost_source reported, and keeps the reconciliation with
	// the catalog price. A call from such a provider that reports no cost is
	// priced from the catalog and says so. Default: none.
	TrustProviders []string `mapstructure:"trust_providers"`
}

const defaultReportedCostTolerance = "0.000001"

var _ confmap.Unmarshaler = (*ReportedCostConfig)(nil)

// Unmarshal reads the section by hand: tolerance is a decimal that YAML
// hands over as a float, which the strict config decoder will not turn into
// text.
func (rc *ReportedCostConfig) Unmarshal(conf *confmap.Conf) error {
	var errs error
	for k, v := range conf.ToStringMap() {
		switch k {
		case "tolerance":
			s, err := decimalText(v)
			if err != nil {
				errs = errors.Join(errs, fmt.Errorf("pricing.reported_cost.tolerance: %w", err))
			}
			rc.Tolerance = s
		case "trust_providers":
			list, ok := v.([]any)
			if !ok && v != nil {
				errs = errors.Join(errs, fmt.Errorf("pricing.reported_cost.trust_providers: must be a list of provider names, got %v", v))
				continue
			}
			rc.TrustProviders = rc.TrustProviders[:0]
			for i, x := range list {
				s, ok := x.(string)
				if !ok {
					errs = errors.Join(errs, fmt.Errorf("pricing.reported_cost.trust_providers[%d]: must be a provider name, got %v", i, x))
					continue
				}
				rc.TrustProviders = append(rc.TrustProviders, s)
			}
		default:
			errs = errors.Join(errs, fmt.Errorf("pricing.reported_cost: unknown key %q (want tolerance, trust_providers)", k))
		}
	}
	return errs
}

func (rc *ReportedCostConfig) validate() error {
	var errs error
	if rc.Tolerance != "" {
		d, err := money.Parse(rc.Tolerance)
		switch {
		case err != nil:
			errs = errors.Join(errs, fmt.Errorf("pricing.reported_cost.tolerance: %q is not a decimal number of USD", rc.Tolerance))
		case d.Negative && !d.IsZero():
			errs = errors.Join(errs, fmt.Errorf("pricing.reported_cost.tolerance: must be >= 0, got %q", rc.Tolerance))
		}
	}
	seen := map[string]int{}
	for i, p := range rc.TrustProviders {
		n := genaiconv.NormalizeProvider(p)
		switch {
		case strings.TrimSpace(p) == "":
			errs = errors.Join(errs, fmt.Errorf("pricing.reported_cost.trust_providers[%d]: must not be empty", i))
		case seen[n] != 0:
			errs = errors.Join(errs, fmt.Errorf("pricing.reported_cost.trust_providers[%d]: %q is already pricing.reported_cost.trust_providers[%d]", i, p, seen[n]-1))
		default:
			seen[n] = i + 1
		}
	}
	return errs
}

// reconciler compares reported costs with ours and picks the billed one.
type reconciler struct {
	tolerance apd.Decimal
	trusted   map[string]bool
}

func newReconciler(rc *ReportedCostConfig) (*reconciler, error) {
	t := rc.Tolerance
	if t == "" {
		t = defaultReportedCostTolerance
	}
	r := &reconciler{trusted: map[string]bool{}}
	var err error
	if r.tolerance, err = money.Parse(t); err != nil {
		return nil, fmt.Errorf("pricing.reported_cost.tolerance: %w", err)
	}
	for _, p := range rc.TrustProviders {
		r.trusted[genaiconv.NormalizeProvider(p)] = true
	}
	return r, nil
}

// costDecision is what reconcile decided for one call.
type costDecision struct {
	// status says how the catalog price compares with the reported cost.
	status string
	// reported is true when cost_usd is the reported cost (trusted provider).
	reported bool
	// note explains the decision in pricing_detail; "" when nothing to say.
	note string
}

// reconcile compares the catalog price in priced (when priced) with the
// call's reported cost, and, for a trusted provider, replaces priced.Cost by
// the reported cost: the caller then records it as the billed cost with
// cost_source reported. It never replaces silently: note says what happened.
func (r *reconciler) reconcile(call *genaiconv.Call, priced *pricing.Result, reported *apd.Decimal) costDecision {
	d := costDecision{status: usage.ReconcileNone}
	hasReported := false
	if call.ReportedCost != "" {
		if d, err := money.Parse(call.ReportedCost); err == nil {
			*reported, hasReported = d, true
		}
	}
	ours := priced.Status == pricing.Priced
	if hasReported && ours {
		var diff apd.Decimal
		if err := money.Sub(&diff, &priced.Cost, reported); err == nil {
			diff.Abs(&diff)
			d.status = usage.ReconcileMatches
			if diff.Cmp(&r.tolerance) > 0 {
				d.status = usage.ReconcileDiffers
			}
		}
	}
	if !r.trusted[call.Provider] {
		return d
	}
	if !hasReported {
		d.note = "provider " + call.Provider + " is trusted for its reported cost (pricing.reported_cost.trust_providers) but the call reports none: catalog price charged"
		return d
	}
	d.reported = true
	if ours {
		d.note = "cost_usd is the cost provider " + call.Provider + " reported (pricing.reported_cost.trust_providers); catalog price " + money.Format(&priced.Cost)
	} else {
		d.note = "cost_usd is the cost provider " + call.Provider + " reported (pricing.reported_cost.trust_providers); no catalog price"
	}
	return d
}
