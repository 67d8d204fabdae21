package pricing

// The genai-prices format: data.json of github.com/pydantic/genai-prices.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
)

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
