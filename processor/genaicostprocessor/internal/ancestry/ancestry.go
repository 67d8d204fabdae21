// Package ancestry remembers, for recently seen spans, their parent and the
// identity attributes found on them, so that an LLM call can take its tenant,
// user, session or feature from an ancestor span of the same trace — typically
// the HTTP server span the application annotated, which ends (and is exported)
// after its children.
//
// Memory is bounded by span count: the oldest entries are forgotten first.
package ancestry

import "go.opentelemetry.io/collector/pdata/pcommon"

// NumFields is the number of identity fields tracked.
const NumFields = 4

// Identity holds one value per identity field (tenant, user, session,
// feature); an empty string is a value not found.
type Identity [NumFields]string

// Complete says whether every field has a value.
func (id *Identity) Complete() bool {
	for _, v := range id {
		if v == "" {
			return false
		}
	}
	return true
}

// FillFrom sets each empty field of id from o.
func (id *Identity) FillFrom(o *Identity) {
	for i, v := range id {
		if v == "" {
			id[i] = o[i]
		}
	}
}

// Key identifies a span.
type Key struct {
	Trace pcommon.TraceID
	Span  pcommon.SpanID
}

// maxDepth bounds a walk up the ancestors, so that a malformed trace with a
// parent cycle cannot loop.
const maxDepth = 256

// Memory is a bounded map of recently seen spans. It is not safe for
// concurrent use: the processor serializes access.
type Memory struct {
	keys *KeyRing
	// By slot of keys: the parent of each span, and where its identity is
	// in idents (its index plus one; 0 for a span without any).
	parents []pcommon.SpanID
	ids     []int32
	// idents are the identities of the spans that have one. Most spans
	// (HTTP, database, queue spans, LLM calls below the span the
	// application annotated) have none: an empty identity costs 4 bytes
	// here, not 64 bytes of string headers the garbage collector scans at
	// every cycle. free are the indexes of idents no span uses.
	idents []Identity
	free   []int32
}

// New returns a Memory that remembers at most capacity spans, allocated up
// front (but for the identities): it fills up as soon as spans flow.
func New(capacity int) *Memory {
	capacity = max(capacity, 1)
	m := &Memory{keys: NewKeyRing(capacity), parents: make([]pcommon.SpanID, 0, capacity), ids: make([]int32, 0, capacity)}
	m.keys.Reserve()
	return m
}

// Len is the number of spans remembered.
func (m *Memory) Len() int { return m.keys.Len() }

// Put remembers a span with its parent and the identity values on it. A span
// seen again (a retry) only refreshes its values.
func (m *Memory) Put(k Key, parent pcommon.SpanID, id *Identity) {
	s, _ := m.keys.Add(k)
	if s == len(m.parents) {
		m.parents = append(m.parents, parent)
		m.ids = append(m.ids, 0)
	} else {
		m.parents[s] = parent
	}
	i := m.ids[s] - 1 // the identity of the span this slot held, if any
	switch {
	case *id == Identity{}:
		if i >= 0 {
			m.idents[i] = Identity{} // its strings are not kept alive
			m.free = append(m.free, i)
			m.ids[s] = 0
		}
	case i >= 0:
		m.idents[i] = *id
	case len(m.free) > 0:
		i = m.free[len(m.free)-1]
		m.free = m.free[:len(m.free)-1]
		m.idents[i] = *id
		m.ids[s] = i + 1
	default:
		m.idents = append(m.idents, *id)
		m.ids[s] = int32(len(m.idents))
	}
}

// Resolve fills the empty fields of id from the ancestors of a span, nearest
// first, starting at its parent. It reports whether the answer is final: every
// field found, or the walk reached the trace's root. It is not final when an
// ancestor has not been seen (yet).
func (m *Memory) Resolve(trace pcommon.TraceID, parent pcommon.SpanID, id *Identity) bool {
	for depth := 0; depth < maxDepth; depth++ {
		if id.Complete() || parent.IsEmpty() {
			return true
		}
		i, ok := m.keys.Find(Key{Trace: trace, Span: parent})
		if !ok {
			return false
		}
		if x := m.ids[i]; x != 0 {
			id.FillFrom(&m.idents[x-1])
		}
		parent = m.parents[i]
	}
	return true
}

// Parent returns the parent of a remembered span; ok is false when the span
// is not remembered.
func (m *Memory) Parent(k Key) (parent pcommon.SpanID, ok bool) {
	i, ok := m.keys.Find(k)
	if !ok {
		return pcommon.SpanID{}, false
	}
	return m.parents[i], true
}
