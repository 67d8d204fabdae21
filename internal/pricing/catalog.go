package pricing

// The catalog model: what every format (format_*.go) compiles into and
// what price.go, resolve.go and book.go read. No parsing lives here.

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/cockroachdb/apd/v3"
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
