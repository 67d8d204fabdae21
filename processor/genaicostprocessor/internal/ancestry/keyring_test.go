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
