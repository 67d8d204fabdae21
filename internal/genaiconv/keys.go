package genaiconv

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"sort"
	"strings"
)

// Most spans of a traces pipeline are no LLM call (HTTP, database, queue
// spans), and Extract sees every one of them. It must reject them for next
// to nothing, and on a call it must not pay a map look-up (hashing the whole
// name) per attribute. keyTable is a perfect hash of the attribute names
// Extract reads, built from the sources table when the package starts, so
// the two cannot drift: a name costs three 8-byte loads, a multiply and one
// string comparison, and most names of other spans fall on an empty slot.

// keyBits sizes the slot table: 4,096 one-byte slots for ~130 names, so a
// collision-free seed is found in a few tries.
const keyBits = 12

type keyEntry struct {
	key string
	src source
}

type keyTable struct {
	seed    uint64
	minLen  int
	maxLen  int
	slots   [1 << keyBits]uint8 // index+1 into entries; 0: no name hashes here
	entries []keyEntry
}

// keys holds every name of sources.
var keys = newKeyTable(sources)

// genaiFirst says, per first byte, whether a name starting with it can make a span a
// GenAI span (a sources entry with genai set, or gen_ai.aggregated_usage.*):
// the first test of hasGenAISignal, derived from the same table.
var genaiFirst = func() (t [256]bool) {
	for k, src := range sources {
		if src.genai {
			t[k[0]] = true
		}
	}
	t[aggregatedUsagePrefix[0]] = true
	return t
}()

// load64 reads 8 bytes of s from i, little endian: one load once compiled
// (the compiler does not copy a []byte conversion it only reads), and cheap
// enough for keyMix to be inlined into find.
func load64(s string, i int) uint64 {
	return binary.LittleEndian.Uint64([]byte(s[i : i+8]))
}

// keyMix mixes a name's length with 8 bytes from its end, 8 bytes from 16
// before its end and 8 from its first quarter. The names share long prefixes
// (gen_ai.usage.) and suffixes (_tokens); they differ in a '.' or '_' before
// the suffix (cache_read.input_tokens, cache_read_input_tokens) or right
// after the prefix (output_tokens_details, prompt_tokens_details), which
// these loads cover. newKeyTable checks that every name mixes differently.
// len(k) >= 8.
func keyMix(k string) uint64 {
	n := len(k)
	return load64(k, n-8) ^ bits.RotateLeft64(load64(k, max(n-16, 0)), 21) ^
		bits.RotateLeft64(load64(k, n/4), 42) ^ uint64(n)*0x9e3779b97f4a7c15
}

func keySlot(mix, seed uint64) uint64 { return (mix * seed) >> (64 - keyBits) }

func newKeyTable(m map[string]source) *keyTable {
	t := &keyTable{minLen: 1 << 30}
	for k, src := range m {
		t.entries = append(t.entries, keyEntry{k, src})
		t.minLen, t.maxLen = min(t.minLen, len(k)), max(t.maxLen, len(k))
	}
	// A fixed order, so that the seed found is the same on every start.
	sort.Slice(t.entries, func(i, j int) bool { return t.entries[i].key < t.entries[j].key })
	if t.minLen < 8 || len(t.entries) > 255 {
		panic(fmt.Sprintf("genaiconv: key table: %d names, the shortest %d bytes (want at most 255, at least 8 bytes)", len(t.entries), t.minLen))
	}
	mixes := make([]uint64, len(t.entries))
	byMix := make(map[uint64]string, len(t.entries))
	for i, e := range t.entries {
		mixes[i] = keyMix(e.key)
		if other, dup := byMix[mixes[i]]; dup {
			// No seed can separate them: keyMix must read other bytes.
			panic(fmt.Sprintf("genaiconv: key table: %q and %q mix to the same value", other, e.key))
		}
		byMix[mixes[i]] = e.key
	}
	// Distinct mixes: an odd multiplier that spreads them over distinct
	// slots is found in a few tries (4,096 slots for ~100 names).
	for seed := uint64(0x9e3779b97f4a7c15); seed < 0x9e3779b97f4a7c15+2*1_000_000; seed += 2 {
		if t.fill(mixes, seed) {
			return t
		}
	}
	panic("genaiconv: key table: no collision-free seed")
}

func (t *keyTable) fill(mixes []uint64, seed uint64) bool {
	t.slots = [1 << keyBits]uint8{}
	for i, m := range mixes {
		h := keySlot(m, seed)
		if t.slots[h] != 0 {
			return false
		}
		t.slots[h] = uint8(i + 1)
	}
	t.seed = seed
	return true
}

// find returns the source of an attribute name, as the sources map would;
// nil when it has none.
func (t *keyTable) find(k string) *source {
	if len(k) < t.minLen || len(k) > t.maxLen {
		return nil
	}
	i := t.slots[keySlot(keyMix(k), t.seed)]
	if i == 0 {
		return nil
	}
	if e := &t.entries[i-1]; e.key == k {
		return &e.src
	}
	return nil
}

// genaiKey says whether the attribute name alone makes a span a GenAI span:
// exactly the names visit sets scan.genai for.
func genaiKey(k string) bool {
	if k == "" || !genaiFirst[k[0]] {
		return false
	}
	if src := keys.find(k); src != nil {
		return src.genai
	}
	return strings.HasPrefix(k, aggregatedUsagePrefix)
}
