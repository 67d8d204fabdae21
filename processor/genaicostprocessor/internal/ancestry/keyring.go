package ancestry

import (
	"hash/maphash"
)

// KeyRing is a bounded set of span keys: when full, a new key takes the slot
// of the oldest, which is forgotten. Each key sits in a slot (0 to
// capacity-1) on which its owner hangs its values, in arrays of its own.
//
// It is what a Go map plus a ring of keys did, for a workload a Go map does
// badly: every span of every batch inserts a key and evicts one, at random
// places of a large table (100,000 keys by default). A Go map answers each
// insert with a miss lookup, an insert and a delete that leaves a tombstone,
// and its probe sequences fill with them; in the processor's LLM-only profile
// the maps' group matching was the largest single cost. Here the index is an
// open-addressing table of 8-byte entries (a 32-bit hash and the slot),
// linear probing, at most half full, with backward-shift deletion: no
// tombstones, short probes, a quarter of the memory per key.
//
// The hash is hash/maphash, seeded per ring: span and trace IDs come from
// clients, who must not be able to choose IDs that collide.
type KeyRing struct {
	keys   []Key
	hashes []uint32 // of keys, by slot: eviction and growth need no rehash
	max    int
	next   int // once full, the slot the next new key takes (the oldest)

	table []entry // power-of-two length, at most half full; nil until the first Add
	mask  uint32
	seed  maphash.Seed
}

// entry is a slot of the index: ref is the slot of the key plus one (0: an
// empty entry), h the key's hash.
type entry struct {
	h   uint32
	ref int32
}

// NewKeyRing returns a ring of at most capacity keys (at least 1). Its
// memory grows with the keys it holds, up to capacity.
func NewKeyRing(capacity int) *KeyRing {
	return &KeyRing{max: max(capacity, 1), seed: maphash.MakeSeed()}
}

// Reserve allocates now the memory of a full ring.
func (r *KeyRing) Reserve() {
	keys, hashes := make([]Key, len(r.keys), r.max), make([]uint32, len(r.keys), r.max)
	copy(keys, r.keys)
	copy(hashes, r.hashes)
	r.keys, r.hashes, r.table = keys, hashes, nil
	r.grow()
}

// Len is the number of keys held.
func (r *KeyRing) Len() int { return len(r.keys) }

func (r *KeyRing) hash(k *Key) uint32 {
	var b [24]byte
	copy(b[:16], k.Trace[:])
	copy(b[16:], k.Span[:])
	return uint32(maphash.Bytes(r.seed, b[:]))
}

// Find returns the slot of k.
func (r *KeyRing) Find(k Key) (slot int, ok bool) {
	return r.find(&k, r.hash(&k))
}

func (r *KeyRing) find(k *Key, h uint32) (int, bool) {
	if r.table == nil {
		return 0, false
	}
	for i := h & r.mask; ; i = (i + 1) & r.mask {
		e := r.table[i]
		if e.ref == 0 {
			return 0, false
		}
		if e.h == h && r.keys[e.ref-1] == *k {
			return int(e.ref - 1), true
		}
	}
}

// Add returns the slot of k, and whether k is new: a new key takes a free
// slot, or, the ring full, the slot of the oldest key, which is forgotten.
func (r *KeyRing) Add(k Key) (slot int, added bool) {
	h := r.hash(&k)
	if s, ok := r.find(&k, h); ok {
		return s, false
	}
	if len(r.keys) < r.max {
		slot = len(r.keys)
		r.keys = append(r.keys, k)
		r.hashes = append(r.hashes, h)
		if len(r.keys)*2 > len(r.table) {
			r.grow()
			return slot, true // grow indexed every key, k included
		}
	} else {
		slot = r.next
		r.unindex(slot)
		r.keys[slot], r.hashes[slot] = k, h
		r.next = (r.next + 1) % r.max
	}
	r.index(slot)
	return slot, true
}

// index puts slot into the table.
func (r *KeyRing) index(slot int) {
	h := r.hashes[slot]
	i := h & r.mask
	for r.table[i].ref != 0 {
		i = (i + 1) & r.mask
	}
	r.table[i] = entry{h: h, ref: int32(slot + 1)}
}

// unindex takes slot out of the table, shifting back the entries after it
// that would otherwise no longer be found from their home position.
func (r *KeyRing) unindex(slot int) {
	i := r.hashes[slot] & r.mask
	for r.table[i].ref != int32(slot+1) {
		i = (i + 1) & r.mask
	}
	for j := (i + 1) & r.mask; ; j = (j + 1) & r.mask {
		e := r.table[j]
		if e.ref == 0 {
			break
		}
		// e may move back to i unless its home lies cyclically in (i, j].
		if home := e.h & r.mask; (j-home)&r.mask >= (j-i)&r.mask {
			r.table[i] = e
			i = j
		}
	}
	r.table[i] = entry{}
}

// grow doubles the table (at least 16 entries, at least twice the keys'
// capacity) and indexes every key again.
func (r *KeyRing) grow() {
	n := max(16, 2*len(r.table))
	for n < 2*len(r.keys) || n < 2*cap(r.keys) {
		n *= 2
	}
	r.table = make([]entry, n)
	r.mask = uint32(n - 1)
	for s := range r.keys {
		r.index(s)
	}
}
