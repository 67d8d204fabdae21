package pricing

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/genaimeter/genaimeter/internal/pricing/genaiprices"
)

// maxUnits bounds the unit table so that sets of units are uint64 bit masks
// and Usage is a fixed-size value (no allocation when building one).
const maxUnits = 64

// unit is one usage key of the reference unit lattice. A unit A is an ancestor
// (more general) of B when A's dimensions are a subset of B's; the reported
// value of A includes B's (input_tokens includes cache_read_tokens).
type unit struct {
	key      string
	priceKey string
	dims     map[string]string
	per      int64
	perExp   int32 // per == 10^perExp, or -1 when per is not a power of ten (audio hours: 3600)
	reported bool  // every key but "requests" is a reported usage count
}

type unitTable struct {
	units      []unit
	byKey      map[string]int
	byPriceKey map[string]int
	// desc[i]: units strictly more specific than i (i's dims ⊂ theirs).
	desc []uint64
	// joins[i]: unordered pairs of compatible, unrelated reported units whose
	// join (merged dimensions) is unit i; a positive value for both while i is
	// missing makes i's value unknowable (reference function B).
	joins [][][2]int
}

var units = mustLoadUnits(genaiprices.Units)

// extraUnits are units of the LiteLLM and native formats that the reference
// lattice lacks: whole images and seconds of generated or transcribed media.
// Their families ("images", "seconds") are their own, so they are neither
// ancestors nor descendants of any reference unit: adding them leaves every
// genai-prices price set, and the parity with the reference, unchanged.
var extraUnits = map[string]struct {
	Dimensions map[string]string `json:"dimensions"`
	Per        int64             `json:"per"`
	PriceKey   string            `json:"price_key"`
}{
	"input_images":   {Dimensions: map[string]string{"family": "images", "direction": "input"}, Per: 1, PriceKey: "input_image"},
	"output_images":  {Dimensions: map[string]string{"family": "images", "direction": "output"}, Per: 1, PriceKey: "output_image"},
	"input_seconds":  {Dimensions: map[string]string{"family": "seconds", "direction": "input"}, Per: 1, PriceKey: "input_second"},
	"output_seconds": {Dimensions: map[string]string{"family": "seconds", "direction": "output"}, Per: 1, PriceKey: "output_second"},
}

// Indices of the keys with typed setters on Usage.
var (
	uInput           = units.mustIndex("input_tokens")
	uOutput          = units.mustIndex("output_tokens")
	uCacheRead       = units.mustIndex("cache_read_tokens")
	uCacheWrite      = units.mustIndex("cache_write_tokens")
	uCacheWrite1h    = units.mustIndex("cache_write_1h_tokens")
	uOutputReasoning = units.mustIndex("output_reasoning_tokens")
	uInputAudio      = units.mustIndex("input_audio_tokens")
	uOutputAudio     = units.mustIndex("output_audio_tokens")
	uAudioSeconds    = units.mustIndex("audio_seconds")
	uInputAudioSecs  = units.mustIndex("input_audio_seconds")
	uRequests        = units.mustIndex("requests")
)

func (t *unitTable) mustIndex(key string) int {
	i, ok := t.byKey[key]
	if !ok {
		panic("pricing: unit table has no key " + key)
	}
	return i
}

func mustLoadUnits(data []byte) *unitTable {
	t, err := loadUnits(data)
	if err != nil {
		panic("pricing: embedded units.json: " + err.Error())
	}
	return t
}

func loadUnits(data []byte) (*unitTable, error) {
	var raw map[string]struct {
		Dimensions map[string]string `json:"dimensions"`
		Per        int64             `json:"per"`
		PriceKey   string            `json:"price_key"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	for k, u := range extraUnits {
		if _, dup := raw[k]; dup {
			return nil, fmt.Errorf("unit %s: defined twice", k)
		}
		raw[k] = u
	}
	if len(raw) > maxUnits {
		return nil, fmt.Errorf("%d units, at most %d supported", len(raw), maxUnits)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t := &unitTable{byKey: map[string]int{}, byPriceKey: map[string]int{}}
	for i, k := range keys {
		r := raw[k]
		if r.Per <= 0 {
			return nil, fmt.Errorf("unit %s: per must be positive", k)
		}
		pk := r.PriceKey
		if pk == "" {
			pk = k
		}
		exp := int32(-1)
		for p, e := int64(1), int32(0); p <= r.Per && e < 19; p, e = p*10, e+1 {
			if p == r.Per {
				exp = e
				break
			}
		}
		t.units = append(t.units, unit{key: k, priceKey: pk, dims: r.Dimensions, per: r.Per, perExp: exp, reported: k != "requests"})
		t.byKey[k] = i
		t.byPriceKey[pk] = i
	}
	n := len(t.units)
	t.desc = make([]uint64, n)
	for i := range t.units {
		for j := range t.units {
			if i != j && subset(t.units[i].dims, t.units[j].dims) {
				t.desc[i] |= 1 << j
			}
		}
	}
	t.joins = make([][][2]int, n)
	for a := 0; a < n; a++ {
		for b := a + 1; b < n; b++ {
			ua, ub := &t.units[a], &t.units[b]
			if !ua.reported || !ub.reported || !compatible(ua.dims, ub.dims) || t.related(a, b) {
				continue
			}
			if j, ok := t.join(a, b); ok {
				t.joins[j] = append(t.joins[j], [2]int{a, b})
			}
		}
	}
	return t, nil
}

// related reports whether a and b are the same unit or one is the other's ancestor.
func (t *unitTable) related(a, b int) bool {
	return a == b || t.desc[a]&(1<<b) != 0 || t.desc[b]&(1<<a) != 0
}

// join returns the unit whose dimensions are the union of a's and b's
// (reference findJoin), if the table has one.
func (t *unitTable) join(a, b int) (int, bool) {
	ua, ub := &t.units[a], &t.units[b]
	if !compatible(ua.dims, ub.dims) {
		return 0, false
	}
	merged := map[string]string{}
	for k, v := range ua.dims {
		merged[k] = v
	}
	for k, v := range ub.dims {
		merged[k] = v
	}
	for i := range t.units {
		if equalDims(t.units[i].dims, merged) {
			return i, true
		}
	}
	return 0, false
}

// subset: every dimension of a has the same value in b (reference `$`).
func subset(a, b map[string]string) bool {
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// compatible: no dimension has different values in a and b (reference `Q`).
func compatible(a, b map[string]string) bool {
	for k, v := range a {
		if bv, ok := b[k]; ok && bv != v {
			return false
		}
	}
	return true
}

func equalDims(a, b map[string]string) bool { return len(a) == len(b) && subset(a, b) }

// UsageKeys lists every usage key of the unit table, sorted.
func UsageKeys() []string {
	out := make([]string, len(units.units))
	for i := range units.units {
		out[i] = units.units[i].key
	}
	return out
}
