package pricing

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
)

// RateCardSpec describes what a customer is charged for a call: either a
// markup on our cost, or rates per usage unit (USD, or credits converted at
// a USD price per credit).
type RateCardSpec struct {
	// Name identifies the card in records' references ("plan:pro", "tenant:acme").
	Name string
	// MarkupPercent, when set: revenue = cost × (1 + MarkupPercent/100).
	MarkupPercent string
	// Rates are prices by genai-prices price key (input_mtok, output_mtok,
	// cache_read_mtok, requests_kcount, ...): USD, or credits when
	// USDPerCredit is set.
	Rates map[string]string
	// USDPerCredit, when set, makes Rates credits: revenue = credits × USDPerCredit.
	USDPerCredit string
}

// RateCard is a compiled RateCardSpec. It is immutable and safe for
// concurrent use.
type RateCard struct {
	name   string
	markup bool
	factor apd.Decimal // 1 + percent/100
	rates  *priceSet
	credit bool
	usdPer apd.Decimal
}

// NewRateCard checks and compiles a spec; the error names the bad field and value.
func NewRateCard(s RateCardSpec) (*RateCard, error) {
	rc := &RateCard{name: s.Name}
	hasMarkup, hasRates := s.MarkupPercent != "", len(s.Rates) > 0
	switch {
	case hasMarkup && hasRates:
		return nil, fmt.Errorf("markup_percent and rates are exclusive: give one")
	case !hasMarkup && !hasRates:
		return nil, fmt.Errorf("needs markup_percent or rates")
	case s.USDPerCredit != "" && !hasRates:
		return nil, fmt.Errorf("usd_per_credit needs rates (in credits)")
	}
	if hasMarkup {
		pct, err := money.Parse(s.MarkupPercent)
		if err != nil {
			return nil, fmt.Errorf("markup_percent: %q is not a number", s.MarkupPercent)
		}
		var minus100 apd.Decimal
		minus100.SetInt64(-100)
		if pct.Cmp(&minus100) < 0 {
			return nil, fmt.Errorf("markup_percent: %q is below -100", s.MarkupPercent)
		}
		rc.markup = true
		pct.Exponent -= 2
		rc.factor.SetInt64(1)
		if err := money.Add(&rc.factor, &rc.factor, &pct); err != nil {
			return nil, fmt.Errorf("markup_percent: %v", err)
		}
		return rc, nil
	}
	keys := make([]string, 0, len(s.Rates))
	for k := range s.Rates {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	prices := map[string]string{}
	for _, k := range keys {
		if _, ok := units.byPriceKey[k]; !ok {
			return nil, fmt.Errorf("rates.%s: unknown price key", k)
		}
		d, err := parseNonNeg(strings.TrimSpace(s.Rates[k]))
		if err != nil {
			return nil, fmt.Errorf("rates.%s: %v", k, err)
		}
		prices[k] = money.Format(&d)
	}
	ps, err := nativePriceSet(prices, nil)
	if err != nil {
		return nil, fmt.Errorf("rates: %v", err)
	}
	rc.rates = ps
	if s.USDPerCredit != "" {
		d, err := parseNonNeg(strings.TrimSpace(s.USDPerCredit))
		if err != nil {
			return nil, fmt.Errorf("usd_per_credit: %v", err)
		}
		rc.credit, rc.usdPer = true, d
	}
	return rc, nil
}

// Name returns the card's name.
func (rc *RateCard) Name() string { return rc.name }

// NeedsCost reports whether the card is a markup on cost (no revenue
// without a cost) rather than rates on usage.
func (rc *RateCard) NeedsCost() bool { return rc.markup }

// Revenue sets out to what the customer is charged for a call of usage u
// that cost us cost (cost is only read by a markup card). Exact; no
// allocation for ordinary amounts.
func (rc *RateCard) Revenue(u *Usage, cost, out *apd.Decimal) error {
	_, err := rc.Charge(u, cost, out, nil)
	return err
}

// Charge is Revenue that also sets credits, when not nil, to the call's
// credits on a card whose rates are in credits (usd_per_credit): the exact
// amount the rates give, before the conversion to USD. It reports whether
// the card counts credits; on a card in USD (a markup, or rates in USD)
// credits is left as it is.
func (rc *RateCard) Charge(u *Usage, cost, revenue, credits *apd.Decimal) (hasCredits bool, err error) {
	if rc.markup {
		if err := money.Mul(revenue, cost, &rc.factor); err != nil {
			return false, err
		}
	} else {
		if err := rc.rates.compute(u, revenue, nil); err != nil {
			return false, err
		}
		if rc.credit {
			if credits != nil {
				canonical(credits.Set(revenue))
			}
			if err := money.Mul(revenue, revenue, &rc.usdPer); err != nil {
				return false, err
			}
		}
	}
	canonical(revenue)
	return rc.credit, nil
}

// canonical reduces d to its shortest exact form, and a zero to plain 0.
func canonical(d *apd.Decimal) {
	d.Reduce(d)
	if d.IsZero() {
		d.SetInt64(0)
	}
}
