package pricing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
)

// liteLLMKeys maps LiteLLM's per-unit cost keys (without tier or threshold
// suffix) to our price keys, with the power of ten that turns LiteLLM's price
// per unit into ours (per million tokens: ×10^6, an exact shift) or, for audio
// seconds, the factor to the per-hour price (×3600, exact).
var liteLLMKeys = map[string]struct {
	priceKey string
	exp      int32 // multiply by 10^exp
	mul      int64 // then by mul (0: 1)
}{
	"input_cost_per_token":                      {"input_mtok", 6, 0},
	"output_cost_per_token":                     {"output_mtok", 6, 0},
	"cache_read_input_token_cost":               {"cache_read_mtok", 6, 0},
	"cache_creation_input_token_cost":           {"cache_write_mtok", 6, 0},
	"cache_creation_input_token_cost_above_1hr": {"cache_write_1h_mtok", 6, 0},
	"output_cost_per_reasoning_token":           {"output_reasoning_mtok", 6, 0},
	"input_cost_per_audio_token":                {"input_audio_mtok", 6, 0},
	"output_cost_per_audio_token":               {"output_audio_mtok", 6, 0},
	"cache_read_input_audio_token_cost":         {"cache_audio_read_mtok", 6, 0},
	"input_cost_per_image_token":                {"input_image_mtok", 6, 0},
	"output_cost_per_image_token":               {"output_image_mtok", 6, 0},
	"input_cost_per_image":                      {"input_image", 0, 0},
	"output_cost_per_image":                     {"output_image", 0, 0},
	"input_cost_per_second":                     {"input_second", 0, 0},
	"output_cost_per_second":                    {"output_second", 0, 0},
	// Audio seconds of a call, priced per hour (the reference's audio unit;
	// its input-only unit needs the general one priced too).
	"input_cost_per_audio_per_second": {"audio_hours", 0, 3600},
	"input_cost_per_request":          {"requests_kcount", 3, 0},
}

// liteLLMTiers are the service-tier suffixes and the tier names they price.
var liteLLMTiers = []struct{ suffix, tier string }{
	{"_flex", "flex"}, {"_priority", "priority"}, {"_batches", "batch"},
}

var aboveRE = regexp.MustCompile(`^(.+)_above_(\d+)k_tokens$`)

// liteLLMPrice is one price key of one tier being assembled: a base and
// thresholds (LiteLLM's _above_Nk_tokens: past N thousand input tokens the
// whole call is charged at that price, which is the genai-prices tier rule).
type liteLLMPrice struct {
	base   string
	hasB   bool
	thresh map[int64]string
}

// parseLiteLLM reads LiteLLM's model_prices_and_context_window.json: an
// object of model name → {litellm_provider, mode, *_cost_* keys...}.
// Per-token costs are converted exactly (decimal exponent shift) to per
// million tokens; tier variants (_flex, _priority, _batches) become service
// tiers; a tier key missing inherits the standard price. A cost key this
// engine cannot apply is a warning, not silently ignored.
func parseLiteLLM(data []byte, source string) (*Catalog, []Problem) {
	var probs []Problem
	c := &Catalog{source: source, format: FormatLiteLLM, open: true}
	c.setVersion(data, "")
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		probs = append(probs, Problem{Message: "litellm data must be a JSON object of model name → prices", offset: -1})
		return nil, locateJSON(data, probs)
	}
	byProv := map[string]*provider{}
	seen := map[string]string{} // provider/model → first key
	for dec.More() {
		keyOff := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			probs = append(probs, Problem{Message: "invalid JSON: " + err.Error(), at: "", offset: keyOff})
			break
		}
		key := tok.(string)
		var entry map[string]any
		if err := dec.Decode(&entry); err != nil {
			probs = append(probs, Problem{Message: fmt.Sprintf("%q: %v", key, err), at: strconv.Quote(key)})
			break
		}
		if key == "sample_spec" {
			continue // LiteLLM's documentation entry
		}
		at := strconv.Quote(key)
		m, prov, ps := liteLLMModel(key, entry, at)
		for i := range ps {
			if ps[i].at == at {
				ps[i].offset = skipSpace(data, keyOff) // the key itself, even when it repeats
			}
		}
		probs = append(probs, ps...)
		if m == nil {
			continue
		}
		id := prov + "/" + m.id
		if first, dup := seen[id]; dup {
			probs = append(probs, Problem{Warning: true, offset: skipSpace(data, keyOff), Message: fmt.Sprintf("%q: same provider and model as %q, which is used", key, first)})
			continue
		}
		seen[id] = key
		c.addModel(byProv, prov, m)
	}
	c.cache.init()
	c.setRefs()
	return c, locateJSON(data, probs)
}

// liteLLMModel compiles one LiteLLM entry; nil when it has nothing to price.
func liteLLMModel(key string, entry map[string]any, at string) (*model, string, []Problem) {
	var probs []Problem
	fail := func(sub string, warn bool, format string, args ...any) {
		p := Problem{Warning: warn, at: at, Message: fmt.Sprintf("%s: ", key) + fmt.Sprintf(format, args...)}
		if sub != "" {
			p.at = at + "." + sub
			p.Message = fmt.Sprintf("%s.%s: ", key, sub) + fmt.Sprintf(format, args...)
		}
		probs = append(probs, p)
	}
	lp, _ := entry["litellm_provider"].(string)
	if lp == "" {
		fail("litellm_provider", false, "missing: every entry needs its provider")
		return nil, "", probs
	}
	prov := CanonicalProvider(lp)
	name := strings.ToLower(strings.TrimSpace(key))
	// "azure/gpt-4o" under provider azure is the model gpt-4o of azure.
	if pre, rest, ok := strings.Cut(name, "/"); ok && rest != "" && (pre == strings.ToLower(lp) || CanonicalProvider(pre) == prov) {
		name = rest
	}
	tiers := map[string]map[string]*liteLLMPrice{"": {}}
	keys := make([]string, 0, len(entry))
	for k := range entry {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := entry[k]
		if v == nil {
			continue
		}
		base, tier := k, ""
		for _, t := range liteLLMTiers {
			if b, ok := strings.CutSuffix(k, t.suffix); ok {
				base, tier = b, t.tier
				break
			}
		}
		var thresh int64 = -1
		if m := aboveRE.FindStringSubmatch(base); m != nil {
			n, err := strconv.ParseInt(m[2], 10, 64)
			if err == nil {
				base, thresh = m[1], n*1000
			}
		}
		spec, ok := liteLLMKeys[base]
		if !ok {
			if strings.Contains(k, "cost") {
				if num, isNum := v.(json.Number); isNum && num.String() != "0" && num.String() != "0.0" {
					fail(k, true, "cost key not supported: this part of the price is not applied")
				}
			}
			continue
		}
		num, isNum := v.(json.Number)
		if !isNum {
			fail(k, false, "must be a number, got %v", v)
			continue
		}
		d, err := parseNonNeg(num.String())
		if err != nil {
			fail(k, false, "%v", err)
			continue
		}
		d.Exponent += spec.exp
		if spec.mul != 0 {
			var f apd.Decimal
			f.SetInt64(spec.mul)
			if err := money.Mul(&d, &d, &f); err != nil {
				fail(k, false, "%v", err)
				continue
			}
		}
		text := money.Format(&d)
		if tiers[tier] == nil {
			tiers[tier] = map[string]*liteLLMPrice{}
		}
		lpr := tiers[tier][spec.priceKey]
		if lpr == nil {
			lpr = &liteLLMPrice{thresh: map[int64]string{}}
			tiers[tier][spec.priceKey] = lpr
		}
		if thresh < 0 {
			lpr.base, lpr.hasB = text, true
		} else {
			lpr.thresh[thresh] = text
		}
	}
	std := tiers[""]
	if len(std) == 0 {
		if len(tiers) > 1 {
			fail("", false, "service-tier prices without standard prices")
		} else if len(probs) > 0 && !hasError(probs) {
			fail("", true, "no supported price: model not loaded")
		}
		return nil, "", probs
	}
	ps, err := liteLLMPriceSet(std, nil)
	if err != nil {
		fail("", false, "%v", err)
		return nil, "", probs
	}
	cp := condPrice{ps: ps}
	tierNames := make([]string, 0, len(tiers))
	for t := range tiers {
		if t != "" {
			tierNames = append(tierNames, t)
		}
	}
	sort.Strings(tierNames)
	for _, t := range tierNames {
		tps, err := liteLLMPriceSet(tiers[t], std)
		if err != nil {
			fail("", false, "%s tier: %v", t, err)
			return nil, "", probs
		}
		cp.tiers = append(cp.tiers, tierPrice{name: t, ps: tps})
	}
	m := &model{id: name, name: key, match: matcher{op: "equals", lit: name}, prices: []condPrice{cp}, plain: true}
	return m, prov, probs
}

// liteLLMPriceSet builds the price set of one tier; keys missing from a
// service tier take the standard price (inherit).
func liteLLMPriceSet(prices, inherit map[string]*liteLLMPrice) (*priceSet, error) {
	obj := map[string]any{}
	put := func(k string, p *liteLLMPrice) error {
		if !p.hasB {
			return fmt.Errorf("%s: threshold prices without a base price", k)
		}
		if len(p.thresh) == 0 {
			obj[k] = json.RawMessage(p.base)
			return nil
		}
		starts := make([]int64, 0, len(p.thresh))
		for s := range p.thresh {
			starts = append(starts, s)
		}
		sort.Slice(starts, func(a, b int) bool { return starts[a] < starts[b] })
		var b strings.Builder
		b.WriteString(`{"base":` + p.base + `,"tiers":[`)
		for i, s := range starts {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"start":%d,"price":%s}`, s, p.thresh[s])
		}
		b.WriteString("]}")
		obj[k] = json.RawMessage(b.String())
		return nil
	}
	for k, p := range inherit {
		if _, own := prices[k]; !own && !repricedAbove(k, prices) {
			if err := put(k, p); err != nil {
				return nil, err
			}
		}
	}
	for k, p := range prices {
		if p.hasB || inherit == nil {
			if err := put(k, p); err != nil {
				return nil, err
			}
			continue
		}
		// A tier that only overrides thresholds keeps the standard base.
		ih := inherit[k]
		if ih == nil {
			return nil, fmt.Errorf("%s: threshold prices without a base price", k)
		}
		merged := &liteLLMPrice{base: ih.base, hasB: ih.hasB, thresh: p.thresh}
		if err := put(k, merged); err != nil {
			return nil, err
		}
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	ps, err := parsePriceSet(raw)
	if err != nil {
		return nil, err
	}
	ps.strict = true
	return ps, nil
}

// repricedAbove reports whether a service tier reprices a more general unit
// than price key k (o3 flex reprices output, so output_reasoning takes the
// flex output price rather than the standard reasoning price).
func repricedAbove[V any](k string, own map[string]V) bool {
	ui, ok := units.byPriceKey[k]
	if !ok {
		return false
	}
	for ok := range own {
		if oi, known := units.byPriceKey[ok]; known && units.desc[oi]&(1<<ui) != 0 {
			return true
		}
	}
	return false
}

func hasError(probs []Problem) bool {
	for _, p := range probs {
		if !p.Warning {
			return true
		}
	}
	return false
}

func skipSpace(data []byte, off int64) int64 {
	for off < int64(len(data)) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\n' || data[off] == '\r' || data[off] == ',') {
		off++
	}
	return off
}
