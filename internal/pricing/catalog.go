// Package pricing prices GenAI calls from a genai-prices catalog with exact
// decimals. It reproduces the algorithm of the reference calculator
// @pydantic/genai-prices 0.1.8 (calcPrice): provider and model lookup,
// conditional (dated / time-of-day) prices, the unit lattice with leaf
// computation, tiered prices and per-request prices.
package pricing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/pricing/genaiprices"
)

// Catalog is a parsed price database. It is immutable after load and safe for
// concurrent use; its only mutable part is the resolution cache, which is
// internally synchronised.
type Catalog struct {
	source    string // path, URL or "embedded:genai-prices@0.1.8"
	version   string // content version: the file's own, else "sha256:" + 12 hex digits of the content
	format    string
	refBase   string // source[@version], the first part of every price reference
	providers []*provider
	cache     resolveCache
	// open: a query without a provider searches every provider's models.
	// LiteLLM and native catalogs have no model_match rules: this is how a
	// model is found when the span does not say who served it.
	open bool
	// discounts of a native catalog apply to prices found in lower layers.
	discounts []*discount
}

type provider struct {
	id, name      string
	providerMatch *matcher
	modelMatch    *matcher
	fallbackIDs   []string
	fallback      []*provider
	models        []*model
}

type model struct {
	id, name string
	index    int
	match    matcher
	// prices: exactly one entry without constraint when the data has a plain
	// price object; otherwise the conditional list in data order.
	prices []condPrice
	plain  bool
	// ranged: the entries are effective date ranges (native format); at a
	// time no range covers, the model has no price in this catalog and a
	// lower layer is asked instead.
	ranged bool
}

type constraintKind int8

const (
	noConstraint constraintKind = iota
	startDate
	timeOfDay
	dateRange // native effective_from/effective_to: [start, end), either side open when zero
)

type condPrice struct {
	kind             constraintKind
	start, end       time.Time // startDate; dateRange
	startNs, endNs   int64     // timeOfDay: nanoseconds after midnight UTC
	rawStart, rawEnd string
	ps               *priceSet
	// tiers are the service-tier price sets (flex, priority, batch) of this
	// entry, when the catalog has them.
	tiers []tierPrice
	ref   string // price reference of the entry (standard tier)
}

// tierPrice is the price set of one service tier.
type tierPrice struct {
	name string
	ps   *priceSet
	ref  string
}

func (c *condPrice) describe() string {
	switch c.kind {
	case startDate:
		return "start_date " + c.rawStart
	case timeOfDay:
		return "time_of_date " + c.rawStart + " to " + c.rawEnd
	case dateRange:
		from, to := c.rawStart, c.rawEnd
		if from == "" {
			from = "(open)"
		}
		if to == "" {
			to = "(open)"
		}
		return "effective " + from + " to " + to
	}
	return "no constraint"
}

// covers reports whether a dateRange entry is in force at ms (Unix milliseconds).
func (c *condPrice) covers(ms int64) bool {
	return (c.start.IsZero() || ms >= c.start.UnixMilli()) && (c.end.IsZero() || ms < c.end.UnixMilli())
}

// priceSet is one price object, compiled.
type priceSet struct {
	items    []priceItem // reported units, evaluation order: most specific first
	requests *priceItem  // requests_kcount, charged once per call
	tiered   bool
	// fixed: every price (tiers included) is an int64 coefficient at the
	// common exponent fixedExp, so the hot path can sum leaf × coefficient
	// in 128-bit integers and build the decimal once. Exactly the same value
	// as the apd path (which Explain uses; the parity test checks both).
	fixed    bool
	fixedExp int32
	// strict (LiteLLM, native and rate cards): a positive usage count that no
	// price of the set covers — neither its own unit nor a more general one —
	// makes the call unpriceable instead of free. The reference lattice
	// silently charges nothing for it (kept for genai-prices parity); a
	// per-image model asked to price tokens must not cost $0.
	strict  bool
	covered uint64
}

type priceItem struct {
	unit  int
	raw   string      // price literal as in the data (the base price when tiered)
	price apd.Decimal // per counted unit: raw / per, exact when per is a power of ten
	tiers []tier      // ascending start
	// inexact: per is not a power of ten (audio_hours, per 3600 seconds); price
	// then holds the raw price and the division is done on the product.
	inexact bool
	fix     int64 // price coefficient at priceSet.fixedExp (when priceSet.fixed)
	// desc indexes the priced units (in items) that are more specific than this one.
	desc []int
}

type tier struct {
	start int64
	raw   string
	price apd.Decimal
	fix   int64
}

// addModel appends m to the catalog's provider prov, creating the provider on
// its first model (byProv indexes the providers created so far). The LiteLLM
// and native formats name providers only through their models.
func (c *Catalog) addModel(byProv map[string]*provider, prov string, m *model) {
	p := byProv[prov]
	if p == nil {
		p = &provider{id: prov, name: prov}
		byProv[prov] = p
		c.providers = append(c.providers, p)
	}
	m.index = len(p.models)
	p.models = append(p.models, m)
}

// Source names where the catalog came from (a path, a URL or "embedded:...").
func (c *Catalog) Source() string { return c.source }

// Version is the catalog's content version: the version a native file
// declares, the snapshot name of the embedded catalog, else "sha256:" and the
// first 12 hex digits of the content's SHA-256.
func (c *Catalog) Version() string { return c.version }

// Format is the format the catalog was read from.
func (c *Catalog) Format() string { return c.format }

// NumModels returns the number of models in the catalog.
func (c *Catalog) NumModels() int {
	n := 0
	for _, p := range c.providers {
		n += len(p.models)
	}
	return n
}

// ProviderIDs lists the catalog's provider ids in data order.
func (c *Catalog) ProviderIDs() []string {
	out := make([]string, len(c.providers))
	for i, p := range c.providers {
		out[i] = p.id
	}
	return out
}

var (
	embeddedOnce sync.Once
	embedded     *Catalog
)

// Embedded returns the catalog parsed from the embedded genai-prices snapshot.
// It is parsed once; the snapshot is tested, so a parse failure is a build
// defect and panics.
func Embedded() *Catalog {
	embeddedOnce.Do(func() {
		c, err := ParseGenAIPrices(genaiprices.Data, "embedded:"+genaiprices.Version)
		if err != nil {
			panic("pricing: embedded catalog: " + err.Error())
		}
		c.version, c.refBase = genaiprices.Version, c.source
		c.setRefs()
		embedded = c
	})
	return embedded
}

// LoadFile reads a catalog file in one of the supported formats (see Parse).
func LoadFile(format, path string) (*Catalog, error) {
	if !knownFormat(format) {
		return nil, fmt.Errorf("price catalog %s: unsupported format %q (supported: %s)", path, format, strings.Join(Formats(), ", "))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("price catalog %s: %w", path, err)
	}
	c, _, err := Parse(format, data, path)
	if err != nil {
		return nil, fmt.Errorf("price catalog %s: %w", path, err)
	}
	return c, nil
}

type rawProvider struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	ModelMatch    json.RawMessage   `json:"model_match"`
	ProviderMatch json.RawMessage   `json:"provider_match"`
	Fallback      []string          `json:"fallback_model_providers"`
	Models        []json.RawMessage `json:"models"`
}

type rawModel struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	Match  json.RawMessage `json:"match"`
	Prices json.RawMessage `json:"prices"`
}

type rawConditional struct {
	Constraint map[string]json.RawMessage `json:"constraint"`
	Prices     json.RawMessage            `json:"prices"`
}

// ParseGenAIPrices parses a genai-prices data.json. It is strict where the
// reference only warns: an unknown price key, an unknown match clause or
// constraint, or a price set the unit lattice cannot evaluate (missing ancestor
// or join price) is an error naming the provider, model and key — a price we
// cannot apply must fail the load, not turn into a silent under-charge. Every
// problem is reported (a *ParseError), each with its line and column.
func ParseGenAIPrices(data []byte, source string) (*Catalog, error) {
	c, probs := parseGenAIPrices(data, source)
	if err := problemsError(probs); err != nil {
		return nil, err
	}
	return c, nil
}

func parseGenAIPrices(data []byte, source string) (*Catalog, []Problem) {
	var probs []Problem
	fail := func(at, format string, args ...any) {
		probs = append(probs, Problem{at: at, Message: fmt.Sprintf(format, args...)})
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		fail("", "genai-prices data must be a JSON array of providers: %v", err)
		return nil, locateJSON(data, probs)
	}
	c := &Catalog{source: source, format: FormatGenAIPrices}
	c.setVersion(data, "")
	byID := map[string]*provider{}
	for pi, rawP := range raws {
		at := fmt.Sprintf("[%d]", pi)
		var rp rawProvider
		if err := json.Unmarshal(rawP, &rp); err != nil {
			fail(at, "provider[%d]: %v", pi, err)
			continue
		}
		where := fmt.Sprintf("provider[%d] %q", pi, rp.ID)
		if rp.ID == "" {
			fail(at, "%s: missing id", where)
			continue
		}
		if byID[rp.ID] != nil {
			fail(at, "%s: duplicate provider id", where)
			continue
		}
		p := &provider{id: rp.ID, name: rp.Name, fallbackIDs: rp.Fallback}
		var err error
		if p.providerMatch, err = optMatcher(rp.ProviderMatch); err != nil {
			fail(at+".provider_match", "%s: provider_match: %v", where, err)
		}
		if p.modelMatch, err = optMatcher(rp.ModelMatch); err != nil {
			fail(at+".model_match", "%s: model_match: %v", where, err)
		}
		for mi, rawM := range rp.Models {
			m, err := parseModel(rawM, mi)
			if err != nil {
				fail(fmt.Sprintf("%s.models[%d]", at, mi), "%s model[%d]%s: %v", where, mi, modelIDHint(rawM), err)
				continue
			}
			p.models = append(p.models, m)
		}
		byID[p.id] = p
		c.providers = append(c.providers, p)
	}
	for _, p := range c.providers {
		for _, id := range p.fallbackIDs {
			// The reference silently skips unknown fallback ids; so do we.
			if f := byID[id]; f != nil {
				p.fallback = append(p.fallback, f)
			}
		}
	}
	c.cache.init()
	c.setRefs()
	return c, locateJSON(data, probs)
}

// setVersion sets the content version (declared, else a content hash) and
// the reference base "source@version".
func (c *Catalog) setVersion(data []byte, declared string) {
	c.version = declared
	if c.version == "" {
		sum := sha256.Sum256(data)
		c.version = "sha256:" + hex.EncodeToString(sum[:6])
	}
	c.refBase = c.source + "@" + c.version
}

// setRefs precomputes the price reference of every entry and tier, so that a
// priced call carries one without allocating: refBase#provider/model, then
// [i] for the i-th of several dated entries, then ~tier for a service tier.
func (c *Catalog) setRefs() {
	for _, p := range c.providers {
		for _, m := range p.models {
			for i := range m.prices {
				cp := &m.prices[i]
				cp.ref = c.refBase + "#" + p.id + "/" + m.id
				if !m.plain {
					cp.ref += "[" + strconv.Itoa(i) + "]"
				}
				for k := range cp.tiers {
					cp.tiers[k].ref = cp.ref + "~" + cp.tiers[k].name
				}
			}
		}
	}
	for _, d := range c.discounts {
		d.ref = c.refBase + "#discount[" + strconv.Itoa(d.index) + "]"
	}
}

func modelIDHint(raw json.RawMessage) string {
	var m struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &m) == nil && m.ID != "" {
		return fmt.Sprintf(" %q", m.ID)
	}
	return ""
}

func optMatcher(raw json.RawMessage) (*matcher, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	m, err := parseMatcher(raw)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

func parseModel(raw json.RawMessage, index int) (*model, error) {
	var rm rawModel
	if err := json.Unmarshal(raw, &rm); err != nil {
		return nil, err
	}
	if rm.ID == "" {
		return nil, fmt.Errorf("missing id")
	}
	m := &model{id: rm.ID, name: rm.Name, index: index}
	var err error
	if len(rm.Match) == 0 {
		return nil, fmt.Errorf("missing match")
	}
	if m.match, err = parseMatcher(rm.Match); err != nil {
		return nil, fmt.Errorf("match: %w", err)
	}
	prices := bytes.TrimSpace(rm.Prices)
	if len(prices) == 0 {
		return nil, fmt.Errorf("missing prices")
	}
	if prices[0] != '[' {
		ps, err := parsePriceSet(prices)
		if err != nil {
			return nil, fmt.Errorf("prices: %w", err)
		}
		m.prices = []condPrice{{ps: ps}}
		m.plain = true
		return m, nil
	}
	var list []rawConditional
	if err := json.Unmarshal(prices, &list); err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("prices: empty list")
	}
	for i, rc := range list {
		cp, err := parseConstraint(rc.Constraint)
		if err != nil {
			return nil, fmt.Errorf("prices[%d].constraint: %w", i, err)
		}
		if cp.ps, err = parsePriceSet(rc.Prices); err != nil {
			return nil, fmt.Errorf("prices[%d].prices: %w", i, err)
		}
		m.prices = append(m.prices, cp)
	}
	return m, nil
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// parseConstraint accepts the typed form ({type: "start_date", start_date}
// / {type: "time_of_date", start_time, end_time}) and the untyped form the
// reference normalises (function Me).
func parseConstraint(c map[string]json.RawMessage) (condPrice, error) {
	if c == nil {
		return condPrice{}, nil
	}
	str := func(k string) (string, bool) {
		var s string
		v, ok := c[k]
		if !ok || json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	}
	typ, hasType := str("type")
	keys := len(c)
	if hasType {
		keys--
	}
	if sd, ok := str("start_date"); ok && keys == 1 && (!hasType || typ == "start_date") {
		if !dateRE.MatchString(sd) {
			return condPrice{}, fmt.Errorf("start_date %q: want YYYY-MM-DD", sd)
		}
		t, err := time.Parse("2006-01-02", sd)
		if err != nil {
			return condPrice{}, fmt.Errorf("start_date %q: %w", sd, err)
		}
		return condPrice{kind: startDate, start: t, rawStart: sd}, nil
	}
	st, ok1 := str("start_time")
	et, ok2 := str("end_time")
	if ok1 && ok2 && keys == 2 && (!hasType || typ == "time_of_date") {
		s, err := parseTimeOfDay(st)
		if err != nil {
			return condPrice{}, err
		}
		e, err := parseTimeOfDay(et)
		if err != nil {
			return condPrice{}, err
		}
		return condPrice{kind: timeOfDay, startNs: s, endNs: e, rawStart: st, rawEnd: et}, nil
	}
	b, _ := json.Marshal(c)
	return condPrice{}, fmt.Errorf("expected a start-date or time-of-day constraint, got %s", b)
}

var timeOfDayRE = regexp.MustCompile(`^(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|([+-])(\d{2}):(\d{2}))$`)

const dayNs = int64(24 * time.Hour)

// parseTimeOfDay converts "HH:MM:SS[.frac](Z|±HH:MM)" to nanoseconds after
// midnight UTC (reference function A).
func parseTimeOfDay(s string) (int64, error) {
	m := timeOfDayRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid time-of-day %q", s)
	}
	h, mi, se := atoi(m[1]), atoi(m[2]), atoi(m[3])
	if h > 23 || mi > 59 || se > 59 {
		return 0, fmt.Errorf("invalid time-of-day %q", s)
	}
	frac := m[4]
	if len(frac) > 9 {
		frac = frac[:9]
	}
	fracNs := int64(0)
	if frac != "" {
		fracNs = int64(atoi(frac + strings.Repeat("0", 9-len(frac))))
	}
	ns := (int64(h)*3600+int64(mi)*60+int64(se))*int64(time.Second) + fracNs
	if m[5] != "Z" {
		oh, om := atoi(m[7]), atoi(m[8])
		if oh > 23 || om > 59 {
			return 0, fmt.Errorf("invalid time-of-day %q", s)
		}
		off := (int64(oh)*3600 + int64(om)*60) * int64(time.Second)
		if m[6] == "-" {
			off = -off
		}
		ns -= off
	}
	return ((ns % dayNs) + dayNs) % dayNs, nil
}

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
	var d apd.Decimal
	if _, _, err := d.SetString(s); err != nil || d.Form != apd.Finite {
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
