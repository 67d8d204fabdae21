package ancestry

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestResolveWalksNearestFirst(t *testing.T) {
	m := New(10)
	tr := pcommon.TraceID{1}
	root, mid := pcommon.SpanID{1}, pcommon.SpanID{2}
	m.Put(Key{tr, root}, pcommon.SpanID{}, &Identity{"tenant-root", "user-root", "", ""})
	m.Put(Key{tr, mid}, root, &Identity{"", "user-mid", "", "feature-mid"})

	id := Identity{"", "", "sess-own", ""}
	assert.True(t, m.Resolve(tr, mid, &id))
	assert.Equal(t, Identity{"tenant-root", "user-mid", "sess-own", "feature-mid"}, id)
}

func TestResolveIsNotFinalWhileAnAncestorIsMissing(t *testing.T) {
	m := New(10)
	tr := pcommon.TraceID{1}
	m.Put(Key{tr, pcommon.SpanID{2}}, pcommon.SpanID{1}, &Identity{"", "u", "", ""})
	id := Identity{}
	assert.False(t, m.Resolve(tr, pcommon.SpanID{2}, &id))
	assert.Equal(t, "u", id[1])
	// Another trace's span with the same span id is not an ancestor.
	m.Put(Key{pcommon.TraceID{9}, pcommon.SpanID{1}}, pcommon.SpanID{}, &Identity{"other", "", "", ""})
	id = Identity{}
	assert.False(t, m.Resolve(tr, pcommon.SpanID{2}, &id))
	assert.Empty(t, id[0])
}

func TestMemoryIsBoundedOldestFirst(t *testing.T) {
	m := New(2)
	tr := pcommon.TraceID{1}
	for i := byte(1); i <= 3; i++ {
		m.Put(Key{tr, pcommon.SpanID{i}}, pcommon.SpanID{}, &Identity{string('a' + rune(i)), "", "", ""})
	}
	assert.Equal(t, 2, m.Len())
	id := Identity{}
	assert.False(t, m.Resolve(tr, pcommon.SpanID{1}, &id), "span 1 was evicted")
	assert.True(t, m.Resolve(tr, pcommon.SpanID{3}, &id))
	assert.Equal(t, "d", id[0])
}

func TestResolveStopsOnACycle(t *testing.T) {
	m := New(4)
	tr := pcommon.TraceID{1}
	m.Put(Key{tr, pcommon.SpanID{1}}, pcommon.SpanID{2}, &Identity{})
	m.Put(Key{tr, pcommon.SpanID{2}}, pcommon.SpanID{1}, &Identity{})
	id := Identity{}
	assert.True(t, m.Resolve(tr, pcommon.SpanID{1}, &id))
}

func TestParent(t *testing.T) {
	m := New(10)
	tr := pcommon.TraceID{1}
	m.Put(Key{tr, pcommon.SpanID{2}}, pcommon.SpanID{1}, &Identity{})
	p, ok := m.Parent(Key{tr, pcommon.SpanID{2}})
	assert.True(t, ok)
	assert.Equal(t, pcommon.SpanID{1}, p)
	_, ok = m.Parent(Key{tr, pcommon.SpanID{1}})
	assert.False(t, ok, "not remembered")
}
