package pricing

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"go.yaml.in/yaml/v3"
)

// RateCards are the rate cards of a deployment: a default card, cards by
// plan and cards by tenant. For picks the card of a call as genai_cost does
// (the tenant's, else its plan's, else the default), so that a re-price
// charges what the processor charged.
type RateCards struct {
	Default *RateCard
	Plans   map[string]*RateCard
	Tenants map[string]*RateCard
}

// For returns the card of a call of tenant on plan, nil when none applies.
func (rc *RateCards) For(tenant, plan string) *RateCard {
	if rc == nil {
		return nil
	}
	if c := rc.Tenants[tenant]; c != nil {
		return c
	}
	if plan != "" {
		if c := rc.Plans[plan]; c != nil {
			return c
		}
	}
	return rc.Default
}

// RateCardsSpec is the text form of RateCards (genai_cost's pricing.revenue).
type RateCardsSpec struct {
	Default *RateCardSpec
	Plans   map[string]RateCardSpec
	Tenants map[string]RateCardSpec
}

// NewRateCards compiles specs; errors name the card ("plans.pro: ...").
func NewRateCards(s RateCardsSpec) (*RateCards, error) {
	out := &RateCards{Plans: map[string]*RateCard{}, Tenants: map[string]*RateCard{}}
	var errs error
	if s.Default != nil {
		d := *s.Default
		d.Name = "default"
		c, err := NewRateCard(d)
		if err != nil {
			errs = errors.Join(errs, fmt.Errorf("default: %w", err))
		}
		out.Default = c
	}
	for _, g := range []struct {
		kind  string
		specs map[string]RateCardSpec
		into  map[string]*RateCard
	}{{"plan", s.Plans, out.Plans}, {"tenant", s.Tenants, out.Tenants}} {
		names := make([]string, 0, len(g.specs))
		for n := range g.specs {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			sp := g.specs[n]
			sp.Name = g.kind + ":" + n
			c, err := NewRateCard(sp)
			if err != nil {
				errs = errors.Join(errs, fmt.Errorf("%ss.%s: %w", g.kind, n, err))
			}
			g.into[n] = c
		}
	}
	if errs != nil {
		return nil, errs
	}
	return out, nil
}

// LoadRateCards reads a rate-card file: YAML in the form of genai_cost's
// pricing.revenue section,
//
//	default: {markup_percent: 40}
//	plans:   {pro: {rates: {input_mtok: 1000, output_mtok: 4000}, usd_per_credit: 0.01}}
//	tenants: {acme: {markup_percent: 25}}
//
// Numbers are taken as the text written (never through a float).
func LoadRateCards(path string) (*RateCards, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: want a mapping with default, plans and/or tenants", path)
	}
	var spec RateCardsSpec
	var errs error
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "default":
			c, err := cardSpec("default", v)
			errs = errors.Join(errs, err)
			spec.Default = &c
		case "plans", "tenants":
			m := map[string]RateCardSpec{}
			if v.Kind != yaml.MappingNode {
				errs = errors.Join(errs, fmt.Errorf("%d:%d: %s: want a mapping of name → rate card", v.Line, v.Column, k.Value))
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				c, err := cardSpec(k.Value+"."+v.Content[j].Value, v.Content[j+1])
				errs = errors.Join(errs, err)
				m[v.Content[j].Value] = c
			}
			if k.Value == "plans" {
				spec.Plans = m
			} else {
				spec.Tenants = m
			}
		default:
			errs = errors.Join(errs, fmt.Errorf("%d:%d: unknown key %q (want default, plans, tenants)", k.Line, k.Column, k.Value))
		}
	}
	if errs != nil {
		return nil, fmt.Errorf("%s: %w", path, errs)
	}
	rc, err := NewRateCards(spec)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rc, nil
}

func cardSpec(where string, n *yaml.Node) (RateCardSpec, error) {
	var s RateCardSpec
	if n.Kind != yaml.MappingNode {
		return s, fmt.Errorf("%d:%d: %s: want a mapping (markup_percent, rates, usd_per_credit)", n.Line, n.Column, where)
	}
	var errs error
	scalar := func(w string, v *yaml.Node) string {
		if v.Kind != yaml.ScalarNode {
			errs = errors.Join(errs, fmt.Errorf("%d:%d: %s: want a number", v.Line, v.Column, w))
		}
		return v.Value
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "markup_percent":
			s.MarkupPercent = scalar(where+".markup_percent", v)
		case "usd_per_credit":
			s.USDPerCredit = scalar(where+".usd_per_credit", v)
		case "rates":
			if v.Kind != yaml.MappingNode {
				errs = errors.Join(errs, fmt.Errorf("%d:%d: %s.rates: want a mapping of price key → rate", v.Line, v.Column, where))
				continue
			}
			s.Rates = map[string]string{}
			for j := 0; j+1 < len(v.Content); j += 2 {
				s.Rates[v.Content[j].Value] = scalar(where+".rates."+v.Content[j].Value, v.Content[j+1])
			}
		default:
			errs = errors.Join(errs, fmt.Errorf("%d:%d: %s: unknown key %q (want markup_percent, rates, usd_per_credit)", k.Line, k.Column, where, k.Value))
		}
	}
	return s, errs
}

// CallUsage is a call's raw token counts as a usage record stores them
// (OTel semantics: input includes cache reads and writes, output includes
// reasoning; the audio and 1h counts are parts of input, output and cache
// writes).
type CallUsage struct {
	Input, Output, CacheRead, CacheWrite, Reasoning, InputAudio, OutputAudio, CacheWrite1h int64
}

// SetCall fills u from a call's counts the way genai_cost prices a span:
// input and output always, the parts only when non-zero (each is priced at
// its own rate, the rest of its total at the plain rate).
func (u *Usage) SetCall(c CallUsage) {
	u.SetInputTokens(c.Input)
	u.SetOutputTokens(c.Output)
	if c.CacheRead > 0 {
		u.SetCacheReadTokens(c.CacheRead)
	}
	if c.CacheWrite > 0 {
		u.SetCacheWriteTokens(c.CacheWrite)
	}
	if c.Reasoning > 0 {
		u.SetOutputReasoningTokens(c.Reasoning)
	}
	if c.InputAudio > 0 {
		u.SetInputAudioTokens(c.InputAudio)
	}
	if c.OutputAudio > 0 {
		u.SetOutputAudioTokens(c.OutputAudio)
	}
	if c.CacheWrite1h > 0 {
		u.SetCacheWrite1hTokens(c.CacheWrite1h)
	}
}
