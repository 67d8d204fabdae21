package ancestry

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// refRing is what KeyRing replaced: a Go map from key to slot and a ring of
// keys, the oldest forgotten first.
type refRing struct {
	index map[Key]int
	ring  []Key
	next  int
	max   int
}

func (r *refRing) add(k Key) (int, bool) {
	if s, ok := r.index[k]; ok {
		return s, false
	}
	var s int
	if len(r.ring) < r.max {
		s = len(r.ring)
		r.ring = append(r.ring, k)
	} else {
		s = r.next
		delete(r.index, r.ring[s])
		r.ring[s] = k
		r.next = (r.next + 1) % r.max
	}
	r.index[k] = s
	return s, true
}

// TestKeyRingIsAMapAndARing: random adds and finds, from a universe of keys a
// few times the capacity (so that keys come back after they were forgotten),
// give the same slots and answers as a Go map and a ring. Small capacities
// keep the table small: home positions collide all the time, which exercises
// the probing and the backward shift of every deletion.
func TestKeyRingIsAMapAndARing(t *testing.T) {
	for _, capacity := range []int{1, 2, 3, 7, 8, 9, 50, 1000} {
		rng := rand.New(rand.NewPCG(uint64(capacity), 18))
		universe := make([]Key, 3*capacity+5)
		for i := range universe {
			var k Key
			// Half the keys share their trace and differ in one byte of
			// the span, as the spans of one trace do.
			if i%2 == 0 {
				k.Trace = pcommon.TraceID{1}
				k.Span = pcommon.SpanID{byte(i), byte(i >> 8)}
			} else {
				for j := range k.Trace {
					k.Trace[j] = byte(rng.Uint32())
				}
				for j := range k.Span {
					k.Span[j] = byte(rng.Uint32())
				}
			}
			universe[i] = k
		}
		got := NewKeyRing(capacity)
		want := &refRing{index: map[Key]int{}, max: capacity}
		for op := range 20 * len(universe) {
			if op == capacity/2 {
				got.Reserve() // what New does up front, here with keys held
			}
			k := universe[rng.IntN(len(universe))]
			if rng.IntN(3) == 0 {
				gs, gok := got.Find(k)
				ws, wok := want.index[k]
				require.Equal(t, wok, gok, "capacity %d, op %d: Find", capacity, op)
				if wok {
					require.Equal(t, ws, gs, "capacity %d, op %d: Find slot", capacity, op)
				}
				continue
			}
			gs, gnew := got.Add(k)
			ws, wnew := want.add(k)
			require.Equal(t, [2]any{ws, wnew}, [2]any{gs, gnew}, "capacity %d, op %d: Add", capacity, op)
			require.Equal(t, len(want.index), got.Len())
		}
		// Every key held is found in its slot, every other one is not.
		for _, k := range universe {
			gs, gok := got.Find(k)
			ws, wok := want.index[k]
			require.Equal(t, wok, gok)
			if wok {
				require.Equal(t, ws, gs)
			}
		}
	}
}

// refMemory is what Memory was before KeyRing and the identity pool: a Go
// map, a ring of slots, each with its parent and identity.
type refMemory struct {
	ring    refRing
	parents map[int]pcommon.SpanID
	ids     map[int]Identity
}

func (m *refMemory) put(k Key, parent pcommon.SpanID, id Identity) {
	s, _ := m.ring.add(k)
	m.parents[s], m.ids[s] = parent, id
}

func (m *refMemory) resolve(trace pcommon.TraceID, parent pcommon.SpanID, id *Identity) bool {
	for range maxDepth {
		if id.Complete() || parent.IsEmpty() {
			return true
		}
		s, ok := m.ring.index[Key{Trace: trace, Span: parent}]
		if !ok {
			return false
		}
		o := m.ids[s]
		id.FillFrom(&o)
		parent = m.parents[s]
	}
	return true
}

// TestMemoryIsTheMapItReplaced: random puts (spans of a few traces, with and
// without identities, retries that change or clear one) and resolutions
// from random spans give what a Go map and a ring of parents and identities
// give, through evictions that free and reuse the identities' places.
func TestMemoryIsTheMapItReplaced(t *testing.T) {
	for _, capacity := range []int{1, 2, 5, 64} {
		rng := rand.New(rand.NewPCG(uint64(capacity), 7))
		traces := []pcommon.TraceID{{1}, {2}, {3}}
		span := func() pcommon.SpanID { return pcommon.SpanID{byte(rng.IntN(2 * capacity))} }
		values := []string{"", "", "a", "b"}
		got := New(capacity)
		want := &refMemory{ring: refRing{index: map[Key]int{}, max: capacity}, parents: map[int]pcommon.SpanID{}, ids: map[int]Identity{}}
		for op := range 5000 {
			tr := traces[rng.IntN(len(traces))]
			if rng.IntN(2) == 0 {
				var id Identity
				for f := range id {
					id[f] = values[rng.IntN(len(values))]
				}
				k, parent := Key{Trace: tr, Span: span()}, span()
				got.Put(k, parent, &id)
				want.put(k, parent, id)
				continue
			}
			parent := span()
			gid := Identity{"", values[rng.IntN(len(values))], "", ""}
			wid := gid
			require.Equal(t, want.resolve(tr, parent, &wid), got.Resolve(tr, parent, &gid), "capacity %d, op %d", capacity, op)
			require.Equal(t, wid, gid, "capacity %d, op %d", capacity, op)
		}
		require.Equal(t, len(want.ring.index), got.Len())
	}
}
