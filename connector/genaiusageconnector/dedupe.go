package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import (
	"encoding/hex"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// eventKey is a call's event id in binary (trace id, then span id): a map key
// that costs no allocation, unlike the 48-character hex text.
type eventKey [24]byte

// keyOf returns a call's key in the duplicate window and, for a span without
// usable ids (an empty or all-zero trace or span id), its event id derived
// from its content ("" for a span with usable ids). Keyed on its ids, every
// such call would be one key, and all but the first would be suppressed as
// duplicates of each other; keyed on its content, a retry of the same call is
// still a duplicate. A content key keeps 128 bits of the hash and an all-zero
// span part, which no usable span id has: it never meets a span's key.
func keyOf(span ptrace.Span, res pcommon.Resource) (eventKey, string) {
	var k eventKey
	if usage.HasSpanIdentity(span) {
		tid, sid := span.TraceID(), span.SpanID()
		copy(k[:16], tid[:])
		copy(k[16:], sid[:])
		return k, ""
	}
	id := usage.ContentEventID(span, res)
	_, _ = hex.Decode(k[:16], []byte(id[len(id)-32:]))
	return k, id
}

type dedupeEntry struct {
	key eventKey
	at  int64 // unix nanos when first seen
}

// dedupe is the bounded seen-set of event ids: an entry lives for window (from
// its first sighting) or until max newer entries push it out, whichever comes
// first. A FIFO ring in arrival order makes both expiries O(1): the oldest
// entry is always at its head. It is not safe for concurrent use; the owner
// holds a lock.
type dedupe struct {
	window int64 // nanos; 0 turns suppression off
	max    int
	seen   map[eventKey]int64 // event id -> when first seen (the live entry)
	ring   []dedupeEntry      // grows up to max, then wraps
	head   int
	n      int
}

func newDedupe(cfg DedupeConfig) *dedupe {
	return &dedupe{window: int64(cfg.Window), max: cfg.MaxEntries, seen: map[eventKey]int64{}}
}

// add records k as seen at now. It reports whether k is a duplicate (seen
// inside the window) and how many live entries were pushed out early because
// the set was full.
func (d *dedupe) add(k eventKey, now int64) (dup bool, evicted int) {
	if d.window <= 0 {
		return false, 0
	}
	d.expire(now)
	if at, ok := d.seen[k]; ok && now-at < d.window {
		return true, 0
	}
	if d.n == d.max {
		if d.popLive() {
			evicted = 1
		}
	}
	d.seen[k] = now
	d.push(dedupeEntry{key: k, at: now})
	return false, evicted
}

// forget undoes add(k, at): the call was not delivered, so its retry must not
// be taken for a duplicate. The ring slot stays and is skipped when it expires.
func (d *dedupe) forget(k eventKey, at int64) {
	if cur, ok := d.seen[k]; ok && cur == at {
		delete(d.seen, k)
	}
}

// len is the number of event ids remembered.
func (d *dedupe) len() int { return len(d.seen) }

func (d *dedupe) expire(now int64) {
	for d.n > 0 && now-d.ring[d.head].at >= d.window {
		d.popLive()
	}
}

// popLive removes the oldest ring entry and reports whether it was still the
// live entry of its key (a key re-added after expiry or forgotten has a newer
// time or none in the map).
func (d *dedupe) popLive() bool {
	e := d.ring[d.head]
	d.head = (d.head + 1) % len(d.ring)
	d.n--
	if at, ok := d.seen[e.key]; ok && at == e.at {
		delete(d.seen, e.key)
		return true
	}
	return false
}

func (d *dedupe) push(e dedupeEntry) {
	if d.n == len(d.ring) {
		// Grow (doubling, capped at max) and unwrap, so memory follows the
		// traffic actually seen rather than max_entries up front.
		size := min(max(2*len(d.ring), 64), d.max)
		ring := make([]dedupeEntry, size)
		for i := 0; i < d.n; i++ {
			ring[i] = d.ring[(d.head+i)%len(d.ring)]
		}
		d.ring, d.head = ring, 0
	}
	d.ring[(d.head+d.n)%len(d.ring)] = e
	d.n++
}
