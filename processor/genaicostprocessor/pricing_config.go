package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/confmap"

	"github.com/genaimeter/genaimeter/internal/pricing"
)

// BatchConfig says how a call made through a provider's batch API is
// recognized: it is then priced at the catalog's "batch" tier.
type BatchConfig struct {
	// Attribute is the span attribute that marks a batch call (for example
	// "llm.is_batch"). Default: "" (no batch marker).
	Attribute string `mapstructure:"attribute"`
	// Values of Attribute that mean batch (compared case-insensitively; a
	// boolean true always does). Default: ["true"].
	Values []string `mapstructure:"values"`
}

// RevenueConfig holds the rate cards: what the customer is charged for a
// call. The tenant's card wins over its plan's (genaimeter.plan), which wins
// over the default card; a call no card applies to has no revenue.
type RevenueConfig struct {
	// Default applies to tenants with neither a card nor a plan card. Default: none.
	Default *RateCardConfig `mapstructure:"default"`
	// Plans: plan name → card.
	Plans map[string]RateCardConfig `mapstructure:"plans"`
	// Tenants: tenant id → card.
	Tenants map[string]RateCardConfig `mapstructure:"tenants"`
}

// RateCardConfig is one rate card: markup_percent on our cost, or rates per
// usage unit (genai-prices price keys: input_mtok, output_mtok,
// cache_read_mtok, requests_kcount...) in USD, or in credits with
// usd_per_credit. Numbers are read from their YAML text; quote very long
// decimals.
type RateCardConfig struct {
	MarkupPercent string            `mapstructure:"markup_percent"`
	Rates         map[string]string `mapstructure:"rates"`
	USDPerCredit  string            `mapstructure:"usd_per_credit"`
}

var _ confmap.Unmarshaler = (*RevenueConfig)(nil)

// Unmarshal reads the rate cards by hand: their numbers are decimals that
// the YAML decoder hands over as floats or ints, which the strict config
// decoder will not turn into text.
func (rc *RevenueConfig) Unmarshal(conf *confmap.Conf) error {
	var errs error
	for k, v := range conf.ToStringMap() {
		switch k {
		case "default":
			c, err := rateCard("pricing.revenue.default", v)
			errs = errors.Join(errs, err)
			rc.Default = &c
		case "plans", "tenants":
			m, ok := v.(map[string]any)
			if !ok && v != nil {
				errs = errors.Join(errs, fmt.Errorf("pricing.revenue.%s: must be a mapping of name → rate card", k))
				continue
			}
			out := map[string]RateCardConfig{}
			for name, cv := range m {
				c, err := rateCard("pricing.revenue."+k+"."+name, cv)
				errs = errors.Join(errs, err)
				out[name] = c
			}
			if k == "plans" {
				rc.Plans = out
			} else {
				rc.Tenants = out
			}
		default:
			errs = errors.Join(errs, fmt.Errorf("pricing.revenue: unknown key %q (want default, plans, tenants)", k))
		}
	}
	return errs
}

func rateCard(where string, v any) (RateCardConfig, error) {
	var c RateCardConfig
	m, ok := v.(map[string]any)
	if !ok {
		return c, fmt.Errorf("%s: must be a mapping (markup_percent, rates, usd_per_credit)", where)
	}
	var errs error
	for k, x := range m {
		switch k {
		case "markup_percent", "usd_per_credit":
			s, err := decimalText(x)
			if err != nil {
				errs = errors.Join(errs, fmt.Errorf("%s.%s: %w", where, k, err))
			}
			if k == "markup_percent" {
				c.MarkupPercent = s
			} else {
				c.USDPerCredit = s
			}
		case "rates":
			rm, ok := x.(map[string]any)
			if !ok {
				errs = errors.Join(errs, fmt.Errorf("%s.rates: must be a mapping of price key → rate", where))
				continue
			}
			c.Rates = map[string]string{}
			for rk, rv := range rm {
				s, err := decimalText(rv)
				if err != nil {
					errs = errors.Join(errs, fmt.Errorf("%s.rates.%s: %w", where, rk, err))
				}
				c.Rates[rk] = s
			}
		default:
			errs = errors.Join(errs, fmt.Errorf("%s: unknown key %q (want markup_percent, rates, usd_per_credit)", where, k))
		}
	}
	return c, errs
}

// decimalText renders a YAML scalar as decimal text. A float is rendered in
// its shortest exact form, which is the literal as written for any literal
// of up to 15 significant digits.
func decimalText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("must be a number, got %v", v)
}

func (c RateCardConfig) spec(name string) pricing.RateCardSpec {
	return pricing.RateCardSpec{Name: name, MarkupPercent: c.MarkupPercent, Rates: c.Rates, USDPerCredit: c.USDPerCredit}
}

// validate checks the pricing section without I/O: a file that is missing
// or does not parse is reported by Start, with every problem and its line.
func (pc *PricingConfig) validate() error {
	var errs error
	supported := strings.Join(pricing.Formats(), ", ")
	for i, s := range pc.Sources {
		if s.Embedded {
			if s.Path != "" || s.URL != "" || (s.Format != "" && s.Format != pricing.FormatGenAIPrices) || s.RefreshInterval != 0 {
				errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].embedded: the built-in snapshot takes no path, url, refresh_interval or format other than genai-prices", i))
			}
			continue
		}
		switch {
		case s.Format == "":
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].format: must be set (supported: %s)", i, supported))
		case !contains(pricing.Formats(), s.Format):
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].format: unsupported format %q (supported: %s)", i, s.Format, supported))
		}
		switch {
		case s.Path == "" && s.URL == "":
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].path: must not be empty (or give url)", i))
		case s.Path != "" && s.URL != "":
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d]: path %q and url %q are exclusive: give one", i, s.Path, s.URL))
		case s.URL != "":
			u, err := url.Parse(s.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].url: %q is not an http(s) URL", i, s.URL))
			}
		}
		if s.RefreshInterval < 0 {
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].refresh_interval: must be >= 0, got %v", i, s.RefreshInterval))
		} else if s.RefreshInterval > 0 && s.RefreshInterval < minRefreshInterval {
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].refresh_interval: must be 0 (never) or >= %v, got %v", i, minRefreshInterval, s.RefreshInterval))
		}
	}
	for _, k := range sortedKeys(pc.Aliases) {
		if strings.TrimSpace(k) == "" || strings.TrimSpace(pc.Aliases[k]) == "" {
			errs = errors.Join(errs, fmt.Errorf("pricing.aliases: %q → %q: both names must be non-empty", k, pc.Aliases[k]))
		}
	}
	if pc.Batch.Attribute == "" && len(pc.Batch.Values) > 0 {
		errs = errors.Join(errs, errors.New("pricing.batch.values: set without pricing.batch.attribute"))
	}
	errs = errors.Join(errs, pc.ReportedCost.validate())
	r := &pc.Revenue
	if r.Default != nil {
		if _, err := pricing.NewRateCard(r.Default.spec("default")); err != nil {
			errs = errors.Join(errs, fmt.Errorf("pricing.revenue.default: %w", err))
		}
	}
	for _, k := range sortedKeys(r.Plans) {
		if _, err := pricing.NewRateCard(r.Plans[k].spec("plan:" + k)); err != nil {
			errs = errors.Join(errs, fmt.Errorf("pricing.revenue.plans.%s: %w", k, err))
		}
	}
	for _, k := range sortedKeys(r.Tenants) {
		if _, err := pricing.NewRateCard(r.Tenants[k].spec("tenant:" + k)); err != nil {
			errs = errors.Join(errs, fmt.Errorf("pricing.revenue.tenants.%s: %w", k, err))
		}
	}
	return errs
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
