package pricing

import (
	"hash/maphash"
	"strings"
	"sync"
)

// resolution is the outcome of looking up one (provider, model name) pair.
// It does not depend on the call's time or usage, so it is cached.
type resolution struct {
	prov   *provider // provider context (nil when none was found)
	model  *model    // nil: unknown model
	owner  *provider // provider listing model (differs from prov via fallback_model_providers)
	how    string    // how prov was found: "id", "provider_match", "model_match", "litellm prefix"
	name   string    // the normalised name that matched
	detail string    // why model is nil
	// provNote says why the price is prov's when the call named a provider
	// the catalog does not know ("" when the call's provider matched or none
	// was named):
	// without it, a call of an unknown gateway is silently priced as, say,
	// OpenAI's model.
	provNote string
}

type cacheKey struct{ provider, model string }

const (
	cacheShards   = 16
	shardCapacity = 2048 // per shard: at most 32768 distinct (provider, model) pairs
)

type cacheShard[V any] struct {
	mu sync.RWMutex
	m  map[cacheKey]V
}

// pairCache maps raw (provider, model) strings, exactly as the caller gave
// them, to their resolution, so that a pair seen before costs one hash and one
// map read. It is sharded to keep lock contention low and bounded: a full shard
// is cleared (model names come from untrusted spans; memory must not grow
// without limit).
type pairCache[V comparable] struct {
	shards [cacheShards]cacheShard[V]
}

type resolveCache = pairCache[*resolution]

func (c *pairCache[V]) init() {
	for i := range c.shards {
		c.shards[i].m = make(map[cacheKey]V)
	}
}

var shardSeed = maphash.MakeSeed()

func shardOf(provider, model string) int {
	h := maphash.String(shardSeed, model)*31 + maphash.String(shardSeed, provider)
	return int(h % cacheShards)
}

// get returns the cached value, or computes, stores and returns it.
func (c *pairCache[V]) get(providerName, modelName string, compute func(p, m string) V) V {
	s := &c.shards[shardOf(providerName, modelName)]
	k := cacheKey{providerName, modelName}
	var zero V
	s.mu.RLock()
	r := s.m[k]
	s.mu.RUnlock()
	if r != zero {
		return r
	}
	r = compute(providerName, modelName)
	k = cacheKey{strings.Clone(providerName), strings.Clone(modelName)}
	s.mu.Lock()
	if len(s.m) >= shardCapacity {
		clear(s.m)
	}
	s.m[k] = r
	s.mu.Unlock()
	return r
}

func (c *Catalog) resolve(providerName, modelName string) *resolution {
	return c.cache.get(providerName, modelName, c.lookup)
}

// lookup is the uncached resolution, following the reference calcPrice:
// litellm "prefix/model" routing, provider by id then provider_match, and when
// no provider is given — or, unlike the reference, when the given provider is
// unknown — the first provider whose model_match accepts the model.
func (c *Catalog) lookup(providerName, modelName string) *resolution {
	name := strings.ToLower(strings.TrimSpace(modelName))
	if name == "" {
		return &resolution{detail: "empty model name"}
	}
	pid, how := strings.TrimSpace(providerName), ""
	if strings.EqualFold(pid, "litellm") {
		if i := strings.IndexByte(name, '/'); i > 0 && i < len(name)-1 {
			if p, _ := c.findProvider(name[:i]); p != nil {
				pid, name, how = name[:i], name[i+1:], "litellm prefix, "
			}
		}
	}
	var p *provider
	if pid != "" {
		var by string
		p, by = c.findProvider(pid)
		how += by
	}
	if p == nil && c.open {
		// LiteLLM and native catalogs have no model_match: without a
		// provider, the first provider listing the model is used; a provider
		// named but absent means this catalog does not price the call.
		if pid == "" {
			for _, q := range c.providers {
				if m, _ := findModel(q, name, false); m != nil {
					return &resolution{prov: q, model: m, owner: q, how: "model search", name: name}
				}
			}
		}
		d := "model " + quote(modelName) + " not found"
		if pid != "" {
			d += ": provider " + quote(providerName) + " is not in the catalog"
		}
		return &resolution{detail: d}
	}
	provNote := ""
	if p == nil {
		for _, q := range c.providers {
			if q.modelMatch != nil && q.modelMatch.match(name) {
				p, how = q, "model_match"
				break
			}
		}
		if p != nil && pid != "" {
			// A call without a provider is matched this way by design (the
			// reference calculator does); one that names a provider the
			// catalog does not know is priced as another's model: say so.
			provNote = "provider " + quote(providerName) + " is not in the catalog: priced by " + p.id + ", whose model_match accepts " + quote(name)
		}
		if p == nil {
			d := "model " + quote(modelName) + " not found: "
			if pid == "" {
				d += "no provider given and no provider's model_match accepts it"
			} else {
				d += "provider " + quote(providerName) + " is not in the catalog and no provider's model_match accepts the model"
			}
			return &resolution{detail: d}
		}
	}
	m, owner := findModel(p, name, true)
	if m == nil {
		if n := normalizeDates(name); n != name {
			name = n
			m, owner = findModel(p, n, true)
		}
	}
	if m == nil {
		return &resolution{prov: p, how: how, detail: "model " + quote(modelName) + " not found for provider " + quote(p.id)}
	}
	return &resolution{prov: p, model: m, owner: owner, how: how, name: name, provNote: provNote}
}

// findProvider finds a provider by id (lowercased, trimmed), else by
// provider_match (reference `qe`).
func (c *Catalog) findProvider(id string) (*provider, string) {
	a := strings.ToLower(strings.TrimSpace(id))
	for _, p := range c.providers {
		if p.id == a {
			return p, "id"
		}
	}
	for _, p := range c.providers {
		if p.providerMatch != nil && p.providerMatch.match(a) {
			return p, "provider_match"
		}
	}
	return nil, ""
}

// findModel returns the first model of p whose match accepts name, then
// tries p's fallback_model_providers (one level, as the reference does).
func findModel(p *provider, name string, withFallback bool) (*model, *provider) {
	for _, m := range p.models {
		if m.match.match(name) {
			return m, p
		}
	}
	if withFallback {
		for _, f := range p.fallback {
			if m, _ := findModel(f, name, false); m != nil {
				return m, f
			}
		}
	}
	return nil, nil
}

func quote(s string) string { return `"` + s + `"` }
