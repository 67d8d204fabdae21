package entitlement

import (
	"fmt"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.yaml.in/yaml/v3"

	"github.com/genaimeter/genaimeter/internal/money"
)

// Alerts is when a plan's tenants are warned (package balances fires them):
//
//	alerts:
//	  thresholds: ["50", "80", "100"]   # % of each allowance and grant; [] turns them off
//	  spike: {window: 1h, baseline: 24h, k: "3", floor: "10"}
type Alerts struct {
	// Thresholds are percentages of an allowance's amount (or a grant's)
	// whose crossing fires an alert, once per period and threshold.
	Thresholds []apd.Decimal
	Spike      Spike
}

// Spike is the spend-spike rule: the cost of the last Window above K × the
// trailing Baseline's cost per window and above Floor (USD). A tenant with
// no baseline alerts on the floor alone.
type Spike struct {
	Window, Baseline time.Duration
	K, Floor         apd.Decimal
}

// DefaultAlerts are a plan's alerts when its file says nothing.
func DefaultAlerts() Alerts {
	return Alerts{
		Thresholds: []apd.Decimal{*apd.New(50, 0), *apd.New(80, 0), *apd.New(100, 0)},
		Spike:      Spike{Window: time.Hour, Baseline: 24 * time.Hour, K: *apd.New(3, 0), Floor: *apd.New(10, 0)},
	}
}

func (p *parser) alerts(n *yaml.Node, where string) Alerts {
	al := DefaultAlerts()
	for _, kv := range p.fields(n, where, "thresholds", "spike") {
		k, v := kv[0], kv[1]
		w := where + "." + k.Value
		switch k.Value {
		case "thresholds":
			if v.Kind != yaml.SequenceNode {
				p.errf(v, w, "want a list of percentages, got %s", describe(v))
				continue
			}
			al.Thresholds = nil
			for i, tn := range v.Content {
				tw := fmt.Sprintf("%s[%d]", w, i)
				d := p.dec(tn, tw)
				if d.IsZero() && tn.Value != "" {
					p.errf(tn, tw, "must be > 0, got %q", tn.Value)
				}
				for _, prev := range al.Thresholds {
					if prev.Cmp(&d) == 0 {
						p.errf(tn, tw, "%q given twice", tn.Value)
					}
				}
				al.Thresholds = append(al.Thresholds, d)
			}
		case "spike":
			for _, skv := range p.fields(v, w, "window", "baseline", "k", "floor") {
				sk, sv := skv[0], skv[1]
				sw := w + "." + sk.Value
				switch sk.Value {
				case "window", "baseline":
					d, err := time.ParseDuration(p.str(sv, sw))
					if err != nil || d <= 0 {
						p.errf(sv, sw, "want a positive duration (1h, 30m), got %q", sv.Value)
					}
					if sk.Value == "window" {
						al.Spike.Window = d
					} else {
						al.Spike.Baseline = d
					}
				case "k":
					al.Spike.K = p.dec(sv, sw)
					if al.Spike.K.IsZero() {
						p.errf(sv, sw, "must be > 0, got %q", sv.Value)
					}
				case "floor":
					al.Spike.Floor = p.dec(sv, sw)
				}
			}
			if al.Spike.Baseline != 0 && al.Spike.Window != 0 && al.Spike.Baseline < al.Spike.Window {
				p.errf(v, w+".baseline", "must be at least the window (%s), got %s", al.Spike.Window, al.Spike.Baseline)
			}
		}
	}
	return al
}

// Crossed returns the thresholds (percent of amount) that a use going from
// before to after crosses: before < t% × amount <= after. An amount of zero
// has no thresholds.
func (al *Alerts) Crossed(amount, before, after *apd.Decimal) []apd.Decimal {
	if amount.Sign() <= 0 || after.Cmp(before) <= 0 {
		return nil
	}
	// Compared as use × 100 against t × amount: exact, no division.
	var b100, a100 apd.Decimal
	_ = money.Mul(&b100, before, apd.New(100, 0))
	_ = money.Mul(&a100, after, apd.New(100, 0))
	var out []apd.Decimal
	for i := range al.Thresholds {
		var level apd.Decimal
		_ = money.Mul(&level, amount, &al.Thresholds[i])
		if b100.Cmp(&level) < 0 && a100.Cmp(&level) >= 0 {
			out = append(out, al.Thresholds[i])
		}
	}
	return out
}

// Percent formats a threshold for ids and messages ("80", "12.5").
func Percent(t *apd.Decimal) string { return money.Format(t) }

// AllowanceNamed returns the plan's allowance called name, or nil.
func (pl *Plan) AllowanceNamed(name string) *Allowance {
	for i := range pl.Allowances {
		if pl.Allowances[i].Name == name {
			return &pl.Allowances[i]
		}
	}
	return nil
}
