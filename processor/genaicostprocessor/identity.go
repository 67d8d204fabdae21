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
// It runs for every span of every batch (any span may be an ancestor), so the
// span is scanned for SDK metadata once, not once per key.
func (p *costProcessor) ownIdentity(attrs pcommon.Map) ancestry.Identity {
	var id ancestry.Identity
	l := genaiconv.NewIdentityLookup(attrs)
	for f, keys := range p.keys {
		id[f] = lookup(keys, l)
	}
	return id
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
	res := genaiconv.NewIdentityLookup(rs.Resource().Attributes())
	for f, keys := range p.keys {
		if id[f] == "" {
			id[f] = lookup(keys, res)
		}
	}
	if id[idTenant] == "" {
		id[idTenant] = usage.Unattributed
		t.unattributed++
	}
	m.id = *id
}
