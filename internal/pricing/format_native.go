package pricing

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.yaml.in/yaml/v3"

	"github.com/genaimeter/genaimeter/internal/money"
)

// The native format (FormatNative) is genaimeter's YAML for overrides and
// contracts:
//
//	version: acme-2025-07            # optional; default: a hash of the content
//	models:
//	  - provider: openai             # catalog provider id (required)
//	    model: gpt-4o                # model id, matched exactly, case-insensitive (required)
//	    match: [gpt-4o-2024-08-06, "ft:gpt-4o:acme:*"]   # more names; "*" at the end matches a prefix
//	    prices:                      # one price object, or a list of dated ones
//	      input_mtok: 2.25           # genai-prices price keys (USD per million tokens, ...)
//	      output_mtok: 9
//	      service_tiers:             # optional; missing keys take the standard price
//	        flex: {input_mtok: 1.25, output_mtok: 5}
//	  - provider: openai
//	    model: gpt-4.1
//	    prices:
//	      - effective_to: 2025-07-01       # [from, to): from inclusive, to exclusive, UTC
//	        input_mtok: 2
//	      - effective_from: 2025-07-01
//	        input_mtok: 1.8
//	discounts:                       # applied to prices found in lower layers
//	  - provider: anthropic
//	    model: claude-sonnet-4-6     # optional: every model of the provider
//	    percent: 12.5
//	    effective_from: 2025-01-01   # optional
//	    effective_to: 2026-01-01     # optional
//
// Outside all its dated entries a model has no price in this file, and the
// sources below it are asked (a contract that ends falls back to list price).

// discount is a negotiated percentage off the prices of lower layers.
type discount struct {
	index           int
	provider, model string // canonical provider; model "" = all models of the provider
	start, end      time.Time
	percent         string
	factor          apd.Decimal // 1 - percent/100, exact
	ref             string
}

func (d *discount) covers(ms int64) bool {
	return (d.start.IsZero() || ms >= d.start.UnixMilli()) && (d.end.IsZero() || ms < d.end.UnixMilli())
}

func (d *discount) appliesTo(res *resolution) bool {
	if d.provider != res.prov.id && (res.owner == nil || d.provider != res.owner.id) {
		return false
	}
	return d.model == "" || d.model == res.model.id || d.model == res.name
}

type nativeParser struct {
	probs []Problem
}

func (np *nativeParser) fail(n *yaml.Node, format string, args ...any) {
	p := Problem{Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	np.probs = append(np.probs, p)
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func parseNative(data []byte, source string) (*Catalog, []Problem) {
	np := &nativeParser{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p := Problem{Message: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			p.Line, _ = strconv.Atoi(m[1])
			p.Column = 1
		}
		return nil, []Problem{p}
	}
	c := &Catalog{source: source, format: FormatNative, open: true}
	if len(doc.Content) == 0 {
		np.fail(nil, "empty file: want a mapping with models and/or discounts")
		return nil, np.probs
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		np.fail(root, "top level must be a mapping with models and/or discounts")
		return nil, np.probs
	}
	version := ""
	byProv := map[string]*provider{}
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "version":
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				np.fail(v, "version: must be a non-empty string")
			}
			version = v.Value
		case "models":
			if v.Kind != yaml.SequenceNode {
				np.fail(v, "models: must be a list")
				continue
			}
			for mi, mn := range v.Content {
				prov, m := np.model(mi, mn)
				if m == nil {
					continue
				}
				id := prov + "/" + m.id
				if line, dup := seen[id]; dup {
					np.fail(mn, "models[%d]: %s is already defined at line %d", mi, id, line)
					continue
				}
				seen[id] = mn.Line
				c.addModel(byProv, prov, m)
			}
		case "discounts":
			if v.Kind != yaml.SequenceNode {
				np.fail(v, "discounts: must be a list")
				continue
			}
			for di, dn := range v.Content {
				if d := np.discount(di, dn); d != nil {
					c.discounts = append(c.discounts, d)
				}
			}
		default:
			np.fail(k, "unknown key %q (want version, models, discounts)", k.Value)
		}
	}
	c.setVersion(data, version)
	c.cache.init()
	c.setRefs()
	sortProblems(np.probs)
	return c, np.probs
}

// fields reads a mapping node into key → value nodes, reporting unknown keys.
func (np *nativeParser) fields(n *yaml.Node, where string, allowed ...string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		np.fail(n, "%s: must be a mapping", where)
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, a := range allowed {
			ok = ok || a == k.Value
		}
		if !ok {
			np.fail(k, "%s: unknown key %q (want %s)", where, k.Value, strings.Join(allowed, ", "))
			continue
		}
		out[k.Value] = n.Content[i+1]
	}
	return out
}

func (np *nativeParser) str(f map[string]*yaml.Node, key, where string, required bool, parent *yaml.Node) string {
	v, ok := f[key]
	if !ok {
		if required {
			np.fail(parent, "%s.%s: required", where, key)
		}
		return ""
	}
	if v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "" {
		np.fail(v, "%s.%s: must be a non-empty string", where, key)
		return ""
	}
	return strings.TrimSpace(v.Value)
}

func (np *nativeParser) date(f map[string]*yaml.Node, key, where string) (time.Time, string, bool) {
	v, ok := f[key]
	if !ok {
		return time.Time{}, "", true
	}
	if t, err := time.Parse("2006-01-02", v.Value); err == nil && v.Kind == yaml.ScalarNode {
		return t, v.Value, true
	}
	if t, err := time.Parse(time.RFC3339, v.Value); err == nil && v.Kind == yaml.ScalarNode {
		return t, v.Value, true
	}
	np.fail(v, "%s.%s: %q is not a date (want YYYY-MM-DD or RFC 3339)", where, key, v.Value)
	return time.Time{}, "", false
}

func (np *nativeParser) model(mi int, n *yaml.Node) (string, *model) {
	where := fmt.Sprintf("models[%d]", mi)
	f := np.fields(n, where, "provider", "model", "name", "match", "prices")
	if f == nil {
		return "", nil
	}
	prov := np.str(f, "provider", where, true, n)
	id := strings.ToLower(np.str(f, "model", where, true, n))
	if prov == "" || id == "" {
		return "", nil
	}
	where = fmt.Sprintf("models[%d] %s/%s", mi, prov, id)
	m := &model{id: id, name: np.str(f, "name", where, false, n)}
	if m.name == "" {
		m.name = id
	}
	m.match = matcher{op: "or", subs: []matcher{{op: "equals", lit: id}}}
	if mn, ok := f["match"]; ok {
		if mn.Kind != yaml.SequenceNode {
			np.fail(mn, "%s.match: must be a list of model names", where)
		}
		for _, s := range mn.Content {
			name := strings.ToLower(strings.TrimSpace(s.Value))
			if s.Kind != yaml.ScalarNode || name == "" || name == "*" {
				np.fail(s, "%s.match: %q is not a model name", where, s.Value)
				continue
			}
			if pre, ok := strings.CutSuffix(name, "*"); ok {
				m.match.subs = append(m.match.subs, matcher{op: "starts_with", lit: pre})
			} else {
				m.match.subs = append(m.match.subs, matcher{op: "equals", lit: name})
			}
		}
	}
	pn, ok := f["prices"]
	if !ok {
		np.fail(n, "%s.prices: required", where)
		return "", nil
	}
	before := len(np.probs)
	switch pn.Kind {
	case yaml.MappingNode:
		cp, ok := np.entry(pn, where+".prices", false)
		if !ok {
			return "", nil
		}
		m.prices, m.plain = []condPrice{cp}, true
	case yaml.SequenceNode:
		if len(pn.Content) == 0 {
			np.fail(pn, "%s.prices: empty list", where)
			return "", nil
		}
		m.ranged = true
		for i, en := range pn.Content {
			cp, ok := np.entry(en, fmt.Sprintf("%s.prices[%d]", where, i), true)
			if ok {
				m.prices = append(m.prices, cp)
			}
		}
		if len(np.probs) > before {
			return "", nil
		}
		np.checkOverlap(pn, where, m.prices)
	default:
		np.fail(pn, "%s.prices: must be a price mapping or a list of dated ones", where)
		return "", nil
	}
	if len(np.probs) > before {
		return "", nil
	}
	return CanonicalProvider(prov), m
}

// checkOverlap refuses dated entries whose ranges overlap: the price of a
// call must never depend on the order of the file.
func (np *nativeParser) checkOverlap(pn *yaml.Node, where string, ps []condPrice) {
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return ps[idx[a]].start.Before(ps[idx[b]].start) })
	for k := 1; k < len(idx); k++ {
		a, b := &ps[idx[k-1]], &ps[idx[k]]
		if a.end.IsZero() || a.end.After(b.start) {
			np.fail(pn.Content[idx[k]], "%s.prices[%d]: overlaps prices[%d] (%s and %s)", where, idx[k], idx[k-1], a.describe(), b.describe())
		}
	}
}

// entry reads one price object (with optional service tiers and, in a
// list, effective dates).
func (np *nativeParser) entry(n *yaml.Node, where string, dated bool) (condPrice, bool) {
	var cp condPrice
	if n.Kind != yaml.MappingNode {
		np.fail(n, "%s: must be a mapping of prices", where)
		return cp, false
	}
	before := len(np.probs)
	prices := map[string]string{}
	var tiersNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "effective_from", "effective_to":
			if !dated {
				np.fail(k, "%s.%s: dates belong to entries of a price list", where, k.Value)
			}
			continue
		case "service_tiers":
			tiersNode = v
			continue
		}
		if text, ok := np.priceValue(k, v, where); ok {
			prices[k.Value] = text
		}
	}
	if dated {
		f := map[string]*yaml.Node{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			f[n.Content[i].Value] = n.Content[i+1]
		}
		from, rawFrom, ok1 := np.date(f, "effective_from", where)
		to, rawTo, ok2 := np.date(f, "effective_to", where)
		if ok1 && ok2 && !from.IsZero() && !to.IsZero() && !to.After(from) {
			np.fail(f["effective_to"], "%s.effective_to: %s is not after effective_from %s", where, rawTo, rawFrom)
		}
		cp.kind, cp.start, cp.end, cp.rawStart, cp.rawEnd = dateRange, from, to, rawFrom, rawTo
	}
	if len(np.probs) > before {
		return cp, false
	}
	ps, err := nativePriceSet(prices, nil)
	if err != nil {
		np.fail(n, "%s: %v", where, err)
		return cp, false
	}
	cp.ps = ps
	if tiersNode != nil {
		if tiersNode.Kind != yaml.MappingNode {
			np.fail(tiersNode, "%s.service_tiers: must be a mapping of tier name → prices", where)
			return cp, false
		}
		for i := 0; i+1 < len(tiersNode.Content); i += 2 {
			tk, tv := tiersNode.Content[i], tiersNode.Content[i+1]
			name := NormalizeTier(tk.Value)
			tw := where + ".service_tiers." + tk.Value
			if name == "" {
				np.fail(tk, "%s: %q is the standard tier: put its prices outside service_tiers", tw, tk.Value)
				continue
			}
			if tv.Kind != yaml.MappingNode {
				np.fail(tv, "%s: must be a mapping of prices", tw)
				continue
			}
			tp := map[string]string{}
			for j := 0; j+1 < len(tv.Content); j += 2 {
				if text, ok := np.priceValue(tv.Content[j], tv.Content[j+1], tw); ok {
					tp[tv.Content[j].Value] = text
				}
			}
			tps, err := nativePriceSet(tp, prices)
			if err != nil {
				np.fail(tv, "%s: %v", tw, err)
				continue
			}
			cp.tiers = append(cp.tiers, tierPrice{name: name, ps: tps})
		}
	}
	return cp, len(np.probs) == before
}

// priceValue checks one price key and renders its value as JSON text (a
// number, or {base, tiers}); numbers keep their decimal text.
func (np *nativeParser) priceValue(k, v *yaml.Node, where string) (string, bool) {
	if _, ok := units.byPriceKey[k.Value]; !ok {
		np.fail(k, "%s: unknown price key %q", where, k.Value)
		return "", false
	}
	num := func(n *yaml.Node, what string) (string, bool) {
		if n.Kind != yaml.ScalarNode {
			np.fail(n, "%s.%s: must be a number", where, what)
			return "", false
		}
		d, err := parseNonNeg(n.Value)
		if err != nil {
			np.fail(n, "%s.%s: %v", where, what, err)
			return "", false
		}
		return money.Format(&d), true
	}
	if v.Kind != yaml.MappingNode {
		return num(v, k.Value)
	}
	// Tiered by input tokens: {base: N, tiers: [{start: N, price: N}]}.
	var base string
	var tiers []string
	okAll := true
	for i := 0; i+1 < len(v.Content); i += 2 {
		tk, tv := v.Content[i], v.Content[i+1]
		switch tk.Value {
		case "base":
			b, ok := num(tv, k.Value+".base")
			base, okAll = b, okAll && ok
		case "tiers":
			if tv.Kind != yaml.SequenceNode {
				np.fail(tv, "%s.%s.tiers: must be a list", where, k.Value)
				okAll = false
				continue
			}
			for j, t := range tv.Content {
				tw := fmt.Sprintf("%s.tiers[%d]", k.Value, j)
				f := np.fields(t, where+"."+tw, "start", "price")
				if f == nil || f["start"] == nil || f["price"] == nil {
					np.fail(t, "%s.%s: needs start and price", where, tw)
					okAll = false
					continue
				}
				start, err := strconv.ParseInt(f["start"].Value, 10, 64)
				if err != nil || start < 0 {
					np.fail(f["start"], "%s.%s.start: %q is not a non-negative whole number", where, tw, f["start"].Value)
					okAll = false
					continue
				}
				p, ok := num(f["price"], tw+".price")
				okAll = okAll && ok
				tiers = append(tiers, fmt.Sprintf(`{"start":%d,"price":%s}`, start, p))
			}
		default:
			np.fail(tk, "%s.%s: unknown key %q (want base, tiers)", where, k.Value, tk.Value)
			okAll = false
		}
	}
	if base == "" && okAll {
		np.fail(v, "%s.%s: tiered price needs a base", where, k.Value)
		return "", false
	}
	return `{"base":` + base + `,"tiers":[` + strings.Join(tiers, ",") + `]}`, okAll
}

// nativePriceSet compiles price key → JSON value text; keys of inherit that
// prices lacks are added (a service tier takes the standard price for what
// it does not list, unless it reprices a more general unit).
func nativePriceSet(prices, inherit map[string]string) (*priceSet, error) {
	keys := map[string]string{}
	for k, v := range inherit {
		if !repricedAbove(k, prices) {
			keys[k] = v
		}
	}
	for k, v := range prices {
		keys[k] = v
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no prices")
	}
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(k) + ":" + keys[k])
	}
	b.WriteByte('}')
	ps, err := parsePriceSet([]byte(b.String()))
	if err != nil {
		return nil, err
	}
	ps.strict = true
	return ps, nil
}

func (np *nativeParser) discount(di int, n *yaml.Node) *discount {
	where := fmt.Sprintf("discounts[%d]", di)
	f := np.fields(n, where, "provider", "model", "percent", "effective_from", "effective_to")
	if f == nil {
		return nil
	}
	before := len(np.probs)
	d := &discount{index: di, provider: CanonicalProvider(np.str(f, "provider", where, true, n)), model: strings.ToLower(np.str(f, "model", where, false, n))}
	var ok1, ok2 bool
	var rawFrom, rawTo string
	d.start, rawFrom, ok1 = np.date(f, "effective_from", where)
	d.end, rawTo, ok2 = np.date(f, "effective_to", where)
	if ok1 && ok2 && !d.start.IsZero() && !d.end.IsZero() && !d.end.After(d.start) {
		np.fail(f["effective_to"], "%s.effective_to: %s is not after effective_from %s", where, rawTo, rawFrom)
	}
	pn, ok := f["percent"]
	if !ok {
		np.fail(n, "%s.percent: required", where)
		return nil
	}
	pct, err := parseNonNeg(pn.Value)
	var hundred apd.Decimal
	hundred.SetInt64(100)
	if err != nil || pn.Kind != yaml.ScalarNode || pct.IsZero() || pct.Cmp(&hundred) > 0 {
		np.fail(pn, "%s.percent: %q must be a number above 0 and at most 100", where, pn.Value)
		return nil
	}
	if len(np.probs) > before {
		return nil
	}
	d.percent = money.Format(&pct)
	pct.Exponent -= 2
	d.factor.SetInt64(1)
	if err := money.Sub(&d.factor, &d.factor, &pct); err != nil {
		np.fail(pn, "%s.percent: %v", where, err)
		return nil
	}
	return d
}
