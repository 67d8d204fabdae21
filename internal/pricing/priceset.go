package pricing

// Compiling one price object (a map of price key → number or tiers) into a
// priceSet: the common back end of every catalog format.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/cockroachdb/apd/v3"
	"github.com/genaimeter/genaimeter/internal/money"
)

// parsePriceSet parses one price object; numbers are read from their JSON
// text (json.Number), never through float64.
func parsePriceSet(raw json.RawMessage) (*priceSet, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fmt.Errorf("must be an object of prices")
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ps := &priceSet{}
	var priced uint64
	for _, k := range keys {
		v := obj[k]
		if v == nil {
			continue // the reference skips undefined prices
		}
		ui, ok := units.byPriceKey[k]
		if !ok {
			return nil, fmt.Errorf("%s: unknown price key", k)
		}
		it, err := parsePriceValue(ui, v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		priced |= 1 << ui
		if len(it.tiers) > 0 || isTieredValue(v) {
			ps.tiered = true
		}
		if ui == uRequests {
			ps.requests = &it
			continue
		}
		ps.items = append(ps.items, it)
	}
	if err := validateLattice(priced); err != nil {
		return nil, err
	}
	for i := range units.units {
		if priced&(1<<i) != 0 {
			ps.covered |= 1<<i | units.desc[i]
		}
	}
	// Most specific first so that every unit's descendants are computed
	// before it (reference `ne`); ties by key (order then only affects which
	// error is reported first).
	sort.SliceStable(ps.items, func(a, b int) bool {
		ua, ub := &units.units[ps.items[a].unit], &units.units[ps.items[b].unit]
		if len(ua.dims) != len(ub.dims) {
			return len(ua.dims) > len(ub.dims)
		}
		return ua.key < ub.key
	})
	for i := range ps.items {
		for j := range ps.items {
			if i != j && units.desc[ps.items[i].unit]&(1<<ps.items[j].unit) != 0 {
				ps.items[i].desc = append(ps.items[i].desc, j)
			}
		}
	}
	ps.setupFixed()
	return ps, nil
}

// setupFixed decides whether the set can use integer arithmetic: no inexact
// divisor, and every price's coefficient scaled to the smallest exponent
// fits in 62 bits.
func (ps *priceSet) setupFixed() {
	all := make([]*priceItem, 0, len(ps.items)+1)
	for i := range ps.items {
		all = append(all, &ps.items[i])
	}
	if ps.requests != nil {
		all = append(all, ps.requests)
	}
	minExp := int32(0)
	for _, it := range all {
		if it.inexact {
			return
		}
		minExp = min(minExp, it.price.Exponent)
		for k := range it.tiers {
			minExp = min(minExp, it.tiers[k].price.Exponent)
		}
	}
	scale := func(d *apd.Decimal) (int64, bool) {
		if !d.Coeff.IsInt64() {
			return 0, false
		}
		c := d.Coeff.Int64()
		for e := d.Exponent; e > minExp; e-- {
			if c > (1<<62)/10 {
				return 0, false
			}
			c *= 10
		}
		return c, true
	}
	for _, it := range all {
		var ok bool
		if it.fix, ok = scale(&it.price); !ok {
			return
		}
		for k := range it.tiers {
			if it.tiers[k].fix, ok = scale(&it.tiers[k].price); !ok {
				return
			}
		}
	}
	ps.fixed, ps.fixedExp = true, minExp
}

func isTieredValue(v any) bool { _, ok := v.(map[string]any); return ok }

// validateLattice is the reference's `pe`: every ancestor of a priced unit
// must be priced (otherwise the ancestor's remainder would go unpriced), and
// any two compatible priced units need their join priced.
func validateLattice(priced uint64) error {
	for i := range units.units {
		if priced&(1<<i) == 0 {
			continue
		}
		for a := range units.units {
			if units.desc[a]&(1<<i) != 0 && priced&(1<<a) == 0 {
				return fmt.Errorf("%s: missing ancestor price key %s", units.units[i].priceKey, units.units[a].priceKey)
			}
		}
	}
	for a := range units.units {
		for b := a + 1; b < len(units.units); b++ {
			if priced&(1<<a) == 0 || priced&(1<<b) == 0 || !compatible(units.units[a].dims, units.units[b].dims) {
				continue
			}
			j, ok := units.join(a, b)
			if !ok {
				return fmt.Errorf("no unit joins %s and %s", units.units[a].priceKey, units.units[b].priceKey)
			}
			if priced&(1<<j) == 0 {
				return fmt.Errorf("missing join price key %s for %s and %s", units.units[j].priceKey, units.units[a].priceKey, units.units[b].priceKey)
			}
		}
	}
	return nil
}

func parsePriceValue(ui int, v any) (priceItem, error) {
	u := &units.units[ui]
	it := priceItem{unit: ui, inexact: u.perExp < 0}
	switch x := v.(type) {
	case json.Number:
		d, err := parseNonNeg(string(x))
		if err != nil {
			return it, err
		}
		it.raw = string(x)
		it.price = perUnit(d, u)
		return it, nil
	case map[string]any:
		base, ok := x["base"].(json.Number)
		tiersRaw, ok2 := x["tiers"].([]any)
		if !ok || !ok2 {
			return it, fmt.Errorf("tiered price needs a numeric base and a tiers list")
		}
		d, err := parseNonNeg(string(base))
		if err != nil {
			return it, fmt.Errorf("base: %w", err)
		}
		it.raw = string(base)
		it.price = perUnit(d, u)
		for i, tr := range tiersRaw {
			t, ok := tr.(map[string]any)
			if !ok {
				return it, fmt.Errorf("tiers[%d]: must be an object", i)
			}
			sn, ok1 := t["start"].(json.Number)
			pn, ok2 := t["price"].(json.Number)
			if !ok1 || !ok2 {
				return it, fmt.Errorf("tiers[%d]: needs numeric start and price", i)
			}
			start, err := sn.Int64()
			if err != nil || start < 0 || start > 1<<53-1 {
				return it, fmt.Errorf("tiers[%d].start %s: want a non-negative safe integer", i, sn)
			}
			pd, err := parseNonNeg(string(pn))
			if err != nil {
				return it, fmt.Errorf("tiers[%d].price: %w", i, err)
			}
			it.tiers = append(it.tiers, tier{start: start, raw: string(pn), price: perUnit(pd, u)})
		}
		sort.SliceStable(it.tiers, func(a, b int) bool { return it.tiers[a].start < it.tiers[b].start })
		return it, nil
	}
	return it, fmt.Errorf("price must be a number or {base, tiers}")
}

func parseNonNeg(s string) (apd.Decimal, error) {
	d, err := money.Parse(s)
	if err != nil {
		return d, fmt.Errorf("invalid price %q", s)
	}
	if d.Negative && !d.IsZero() {
		return d, fmt.Errorf("negative price %q", s)
	}
	d.Negative = false
	return d, nil
}

// perUnit divides a price by its unit's divisor when that is a power of ten
// (an exact exponent shift); otherwise the price is kept as is.
func perUnit(d apd.Decimal, u *unit) apd.Decimal {
	if u.perExp > 0 {
		d.Exponent -= u.perExp
	}
	return d
}
