package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
)

// Identity fields, as indexes into ancestry.Identity.
const (
	idTenant = iota
	idUser
	idSession
	idFeature
)

// remember records every span of the batch, with the identity found on it, as
// a potential ancestor, before any call of the batch is resolved: a parent in
// the same batch is found whatever the order. It returns the traces of the
// batch that have held calls.
func (p *costProcessor) remember(td ptrace.Traces) []pcommon.TraceID {
	var touched []pcommon.TraceID
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			if genaiconv.SelfTracingSDK(genaiconv.ScopeOf(sss.At(j).Scope())) {
				p.noteSelfTraced(spans)
			}
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				id := p.ownIdentity(span.Attributes())
				p.memory.Put(ancestry.Key{Trace: span.TraceID(), Span: span.SpanID()}, span.ParentSpanID(), &id)
				if p.held.Waiting(span.TraceID()) && !slices.Contains(touched, span.TraceID()) {
					touched = append(touched, span.TraceID())
				}
			}
		}
	}
	return touched
}

// ownIdentity reads the identity values on one span's attributes.
// It runs for every span of every batch (any span may be an ancestor). Most
// spans carry no identity at all (HTTP, database, queue spans): one pass over
// their keys (identityKeys.scan) proves it. Otherwise only the keys found in
// that pass, as attribute keys or behind a prefix, are looked up. Only a
// span with OpenInference's metadata JSON, which may hold any key, pays
// genaiconv's full look-up of every key.
func (p *costProcessor) ownIdentity(attrs pcommon.Map) ancestry.Identity {
	var id ancestry.Identity
	found, all := p.idKeys.scan(attrs)
	if all {
		l := genaiconv.NewIdentityLookup(attrs)
		for f, keys := range p.keys {
			id[f] = lookup(keys, l)
		}
		return id
	}
	if found == 0 {
		return id
	}
	for f, keys := range p.keys {
		for i, k := range keys {
			if found&p.idKeys.bits[f][i] == 0 {
				continue // neither on the span nor behind a prefix
			}
			if s, ok := genaiconv.LookupIdentity(attrs, k); ok && s != "" {
				id[f] = s
				break
			}
		}
	}
	return id
}

// identityKeys are the configured identity keys, prepared for one pass over
// a span's attribute keys (scan).
//
// genaiconv.LookupIdentity finds a key's value under the key itself, under
// the key behind an SDK metadata prefix, or in OpenInference's "metadata"
// JSON: whatever the prefixes, an attribute that can hold an identity has a
// configured key as its key or as its key's suffix, or is "metadata". tails,
// a bitmap of the last two bytes of those, rejects nearly every other key
// with one load.
type identityKeys struct {
	// keys are the configured keys, each once; key i is bit i of scan's
	// found.
	keys []string
	// bits are the bits of the keys of each field, in the configured order.
	bits  [ancestry.NumFields][]uint64
	tails [1 << 16 / 64]uint64
	// off: a key too short for tails, or too many keys for found's bits;
	// scan then always reports all (genaiconv's full look-up).
	off bool
}

func newIdentityKeys(fields [ancestry.NumFields][]string) identityKeys {
	var k identityKeys
	for f, keys := range fields {
		for _, key := range keys {
			i := slices.Index(k.keys, key)
			if i < 0 {
				i = len(k.keys)
				k.keys = append(k.keys, key)
				k.setTail(key)
			}
			if len(key) < 2 || i >= 64 {
				k.off = true
			}
			k.bits[f] = append(k.bits[f], 1<<(i%64))
		}
	}
	k.setTail(genaiconv.MetadataAttr)
	return k
}

func tail(s string) uint16 { return uint16(s[len(s)-2])<<8 | uint16(s[len(s)-1]) }

func (k *identityKeys) setTail(s string) {
	if len(s) >= 2 {
		t := tail(s)
		k.tails[t/64] |= 1 << (t % 64)
	}
}

// scan reads a span's attribute keys once. found has the bit of every
// configured key that is an attribute key or the suffix of one (the key
// behind an SDK metadata prefix, or behind any other: genaiconv judges).
// all says that every key must be looked up: the span has the metadata JSON,
// or the keys are off.
func (k *identityKeys) scan(attrs pcommon.Map) (found uint64, all bool) {
	if k.off {
		return 0, true
	}
	for a := range attrs.All() {
		if len(a) < 2 {
			continue // shorter than any configured key
		}
		if t := tail(a); k.tails[t/64]&(1<<(t%64)) == 0 {
			continue
		}
		if a == genaiconv.MetadataAttr {
			return 0, true
		}
		for i, key := range k.keys {
			if len(a) >= len(key) && a[len(a)-len(key):] == key {
				found |= 1 << (i % 64)
			}
		}
	}
	return found, false
}

// callIdentity is an LLM call's own identity: the values on its span, and
// the SDK's own name for the feature (the AI SDK's functionId, a Traceloop
// workflow) after the configured feature keys on the span. Holding, letting
// go and restoring a call all start from it, so a held call resolves exactly
// as it would have had its ancestors come first.
func (p *costProcessor) callIdentity(attrs pcommon.Map, call genaiconv.Call) ancestry.Identity {
	id := p.ownIdentity(attrs)
	if id[idFeature] == "" {
		id[idFeature] = call.Feature
	}
	return id
}

// lookup returns the first non-empty value of keys; a key is also found under
// the metadata prefixes of known SDKs (see genaiconv.LookupIdentity).
func lookup(keys []string, l genaiconv.IdentityLookup) string {
	for _, k := range keys {
		if s, ok := l.Lookup(k); ok && s != "" {
			return s
		}
	}
	return ""
}

// attribute is the first step of metering: who made the call. The identity
// found on the span and its ancestors (id) comes first; the resource fills
// what is still missing; a call without a tenant is unattributed, and
// counted.
func (p *costProcessor) attribute(m *metered, id *ancestry.Identity, rs ptrace.ResourceSpans, t *tally) {
	res := p.ownIdentity(rs.Resource().Attributes())
	id.FillFrom(&res)
	if id[idTenant] == "" {
		id[idTenant] = usage.Unattributed
		t.unattributed++
	}
	m.id = *id
}
