package pricing

import (
	"fmt"
	"sort"
	"strings"

	"github.com/genaimeter/genaimeter/internal/money"
)

// Book prices calls from layered catalogs: a later layer overrides an
// earlier one for the same model (the embedded snapshot, then LiteLLM's map,
// then a contract file, say). Model and provider names are normalized before
// matching (see candidates and CanonicalProvider). A Book is immutable and
// safe for concurrent use; swapping prices means building a new Book.
//
// Resolution order for one (provider, model name) pair:
//  1. the exact spellings of the name (alias, as given, "provider/" prefix
//     removed, Bedrock and Vertex ids read) in every layer, last layer first;
//     a model a layer identifies (genai-prices knows gpt-4.1-2025-04-14 is
//     gpt-4.1) is also looked up by its id in the layers above it, so a
//     contract on gpt-4.1 applies to the dated name the API reports;
//  2. then the substitutes (undated name of a snapshot, base model of a
//     fine-tune), last layer first.
//
// The first layer that has a price in force at the call's time wins; a
// native entry outside its effective dates passes to the next match.
type Book struct {
	layers  []*Catalog // lowest precedence first
	aliases map[string]string
	provs   map[string]bool // provider names that a "name/" model prefix may carry
	cache   pairCache[*bookRes]
}

// BookOptions configures a Book.
type BookOptions struct {
	// Aliases maps model names (case-insensitive) to the name to price them
	// as: Azure deployment names, Bedrock application inference profiles,
	// gateway route names. A target may carry a provider prefix ("openai/gpt-4o").
	Aliases map[string]string
}

// chainEntry is one layer's match for a pair.
type chainEntry struct {
	layer     int
	res       *resolution
	note      string
	discounts []*discount // of higher layers, that apply to this match, top first
}

type bookRes struct {
	chain  []chainEntry
	detail string
}

// NewBook layers catalogs, lowest precedence first. At least one is needed.
func NewBook(layers []*Catalog, opts BookOptions) (*Book, error) {
	if len(layers) == 0 {
		return nil, fmt.Errorf("a price book needs at least one catalog")
	}
	b := &Book{layers: layers, aliases: map[string]string{}, provs: map[string]bool{}}
	for k, v := range opts.Aliases {
		k = strings.ToLower(strings.TrimSpace(k))
		if k == "" || strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("alias %q → %q: both names must be non-empty", k, v)
		}
		b.aliases[k] = v
	}
	for _, c := range layers {
		for _, p := range c.providers {
			b.provs[p.id] = true
		}
	}
	b.cache.init()
	return b, nil
}

// Layers returns the catalogs, lowest precedence first.
func (b *Book) Layers() []*Catalog { return b.layers }

// isProvider reports whether s names a provider: one of the layers' ids, or
// a name CanonicalProvider knows.
func (b *Book) isProvider(s string) bool {
	if b.provs[s] {
		return true
	}
	_, known := catalogProvider(s)
	return known
}

func (b *Book) resolve(provider, model string) *bookRes {
	return b.cache.get(provider, model, b.lookup)
}

// lookupIn looks a candidate up in one layer: by the canonical provider id
// first, then by the name as given (a catalog's own provider_match rules).
func lookupIn(c *Catalog, provider, name string) *resolution {
	cp := CanonicalProvider(provider)
	res := c.lookup(cp, name)
	if res.model == nil && cp != strings.ToLower(strings.TrimSpace(provider)) {
		if r2 := c.lookup(provider, name); r2.model != nil {
			return r2
		}
	}
	return res
}

// sameModelAbove adds, for each match from chain[start:], the higher layers
// that list the same catalog model under its id: a lower catalog that knows
// "gpt-4.1-2025-04-14" is gpt-4.1 makes a contract on gpt-4.1 above it apply
// to that name too. The matches are then ordered top layer first.
func (b *Book) sameModelAbove(br *bookRes, start int) {
	found := br.chain[start:]
	have := map[int]bool{}
	for _, e := range found {
		have[e.layer] = true
	}
	n := len(found)
	for k := 0; k < n; k++ {
		e := br.chain[start+k]
		for li := len(b.layers) - 1; li > e.layer; li-- {
			if have[li] {
				continue
			}
			if res := lookupIn(b.layers[li], e.res.prov.id, e.res.model.id); res.model != nil {
				note := joinNote(e.note, e.res.name+" is "+e.res.model.id+" in "+b.layers[e.layer].source)
				br.chain = append(br.chain, chainEntry{layer: li, res: res, note: note})
				have[li] = true
			}
		}
	}
	tail := br.chain[start:]
	sort.SliceStable(tail, func(i, j int) bool { return tail[i].layer > tail[j].layer })
}

func (b *Book) lookup(provider, model string) *bookRes {
	br := &bookRes{}
	if strings.TrimSpace(model) == "" {
		br.detail = "empty model name"
		return br
	}
	cands := candidates(provider, model, b.aliases, b.isProvider)
	for pass := 0; pass < 2; pass++ {
		start := len(br.chain)
		for li := len(b.layers) - 1; li >= 0; li-- {
			for _, cd := range cands {
				if cd.substitute != (pass == 1) {
					continue
				}
				if res := lookupIn(b.layers[li], cd.provider, cd.name); res.model != nil {
					br.chain = append(br.chain, chainEntry{layer: li, res: res, note: cd.note})
					break
				}
			}
		}
		b.sameModelAbove(br, start)
	}
	for i := range br.chain {
		e := &br.chain[i]
		for li := len(b.layers) - 1; li > e.layer; li-- {
			for _, d := range b.layers[li].discounts {
				if d.appliesTo(e.res) {
					e.discounts = append(e.discounts, d)
				}
			}
		}
	}
	if len(br.chain) == 0 {
		// The message of the bottom layer for the name as given, so that a
		// single-source book explains itself like its catalog.
		br.detail = b.layers[0].lookup(provider, model).detail
		if len(b.layers) > 1 {
			br.detail += fmt.Sprintf(" (nor in the %d other price sources)", len(b.layers)-1)
		}
	}
	return br
}

// Price prices one call. It is safe for concurrent use. For a (provider,
// model) pair seen before it does no catalog scan and no allocation.
func (b *Book) Price(q *Query, r *Result) { b.price(q, r, nil) }

// Explain prices q like Price and also returns how.
func (b *Book) Explain(q *Query, r *Result) *Explanation {
	ex := &Explanation{}
	b.price(q, r, ex)
	return ex
}

func (b *Book) price(q *Query, r *Result, ex *Explanation) {
	r.reset()
	var first *bookRes
	if q.ResponseModel != "" {
		first = b.resolve(q.Provider, q.ResponseModel)
		r.MatchedName = q.ResponseModel
		if b.priceChain(first, q, r, ex) {
			return
		}
	}
	if q.RequestModel != "" && q.RequestModel != q.ResponseModel {
		br := b.resolve(q.Provider, q.RequestModel)
		r.MatchedName = q.RequestModel
		if b.priceChain(br, q, r, ex) {
			return
		}
		r.Status, r.MatchedName = UnknownModel, ""
		if first != nil {
			r.Detail = "response " + first.detail + "; request " + br.detail
		} else {
			r.Detail = br.detail
		}
		return
	}
	r.Status, r.MatchedName = UnknownModel, ""
	if first == nil {
		r.Detail = "no model name (response and request model are empty)"
	} else {
		r.Detail = first.detail
	}
}

// priceChain prices with the first match of the chain that has a price in
// force at q.At; false when there is none.
func (b *Book) priceChain(br *bookRes, q *Query, r *Result, ex *Explanation) bool {
	if len(br.chain) == 0 {
		return false
	}
	if q.At.IsZero() {
		e := &br.chain[0]
		r.ProviderID, r.ModelID = e.res.prov.id, e.res.model.id
		r.Status, r.Detail = InvalidUsage, "call time is not set: prices are chosen by the time of the call"
		if ex != nil {
			ex.fillMatch(e.res)
			b.fillLayer(ex, e)
		}
		return true
	}
	for i := range br.chain {
		e := &br.chain[i]
		ci := e.res.model.selectPrice(q.At)
		if ci < 0 {
			continue
		}
		r.ProviderID, r.ModelID, r.Normalized, r.ProviderNote = e.res.prov.id, e.res.model.id, e.note, e.res.provNote
		r.Source = b.layers[e.layer].source
		if ex != nil {
			ex.fillMatch(e.res)
			b.fillLayer(ex, e)
		}
		if !applyEntry(e.res, ci, q, r, ex) {
			return true
		}
		if len(e.discounts) > 0 {
			ms := q.At.UnixMilli()
			for _, d := range e.discounts {
				if d.covers(ms) {
					if ex != nil {
						ex.Discount = d.percent + "% off (" + d.ref + ")"
						ex.BeforeDiscount.Set(&r.Cost)
					}
					if err := money.Mul(&r.Cost, &r.Cost, &d.factor); err != nil {
						r.Status, r.Detail = InvalidUsage, err.Error()
						r.Cost.SetInt64(0)
						return true
					}
					r.Cost.Reduce(&r.Cost)
					if r.Cost.IsZero() {
						r.Cost.SetInt64(0)
					}
					r.DiscountRef = d.ref
					break
				}
			}
		}
		return true
	}
	e := &br.chain[0]
	r.Status, r.ProviderID, r.ModelID, r.MatchedName, r.ProviderNote = UnknownModel, "", "", "", ""
	r.Detail = "model " + quote(e.res.model.id) + " of provider " + quote(e.res.prov.id) + " has no price in force at " + q.At.UTC().Format("2006-01-02T15:04:05Z")
	return true
}

func (b *Book) fillLayer(ex *Explanation, e *chainEntry) {
	c := b.layers[e.layer]
	ex.Layers, ex.Layer = len(b.layers), e.layer
	ex.Source, ex.Version, ex.Format = c.source, c.version, c.format
	ex.Normalized = e.note
}

// ServiceTiers returns the names of the service tiers (other than standard)
// that some price of the book has, sorted: a tier named on a command line
// that none has is a mistake to report, not a call to price at standard.
func (b *Book) ServiceTiers() []string {
	seen := map[string]bool{}
	for _, c := range b.layers {
		for _, p := range c.providers {
			for _, m := range p.models {
				for i := range m.prices {
					for _, t := range m.prices[i].tiers {
						seen[t.name] = true
					}
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for t := range seen {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}
