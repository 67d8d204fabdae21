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

type slot struct {
	key    Key
	parent pcommon.SpanID
	id     Identity
	used   bool
}

// maxDepth bounds a walk up the ancestors, so that a malformed trace with a
// parent cycle cannot loop.
const maxDepth = 256

// Memory is a bounded map of recently seen spans. It is not safe for
// concurrent use: the processor serializes access.
type Memory struct {
	index map[Key]int32
	ring  []slot
	next  int
}

// New returns a Memory that remembers at most capacity spans.
func New(capacity int) *Memory {
	if capacity < 1 {
		capacity = 1
	}
	return &Memory{index: make(map[Key]int32, capacity), ring: make([]slot, capacity)}
}

// Len is the number of spans remembered.
func (m *Memory) Len() int { return len(m.index) }

// Put remembers a span with its parent and the identity values on it. A span
// seen again (a retry) only refreshes its values.
func (m *Memory) Put(k Key, parent pcommon.SpanID, id *Identity) {
	if i, ok := m.index[k]; ok {
		m.ring[i].parent, m.ring[i].id = parent, *id
		return
	}
	s := &m.ring[m.next]
	if s.used {
		delete(m.index, s.key)
	}
	*s = slot{key: k, parent: parent, id: *id, used: true}
	m.index[k] = int32(m.next)
	m.next = (m.next + 1) % len(m.ring)
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
		i, ok := m.index[Key{Trace: trace, Span: parent}]
		if !ok {
			return false
		}
		s := &m.ring[i]
		id.FillFrom(&s.id)
		parent = s.parent
	}
	return true
}

// Parent returns the parent of a remembered span; ok is false when the span
// is not remembered.
func (m *Memory) Parent(k Key) (parent pcommon.SpanID, ok bool) {
	i, ok := m.index[k]
	if !ok {
		return pcommon.SpanID{}, false
	}
	return m.ring[i].parent, true
}
