package pricing

import (
	"strings"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
)

// Provider names are normalized once, by genaiconv.NormalizeProvider (every
// raw spelling spans use: gen_ai.system, AI SDK ids, OpenInference values).
// Pricing only maps what that produces to the catalog's provider ids.

// semconvProviders maps the gen_ai.provider.name values genaiconv produces
// to the catalog's provider ids (genai-prices ids, which LiteLLM and native
// catalogs are filed under too) where the two differ.
var semconvProviders = map[string]string{
	"azure.ai.openai": "azure", "azure.ai.inference": "azure", "aws.bedrock": "aws",
	"gcp.vertex_ai": "google", "gcp.gemini": "google", "gcp.gen_ai": "google",
	"x_ai": "x-ai", "mistral_ai": "mistral", "ibm.watsonx.ai": "ibm", "moonshot_ai": "moonshotai",
}

// liteLLMProviders maps LiteLLM's own provider ids (litellm_provider), where
// genaiconv does not know them, to the catalog's provider ids: they name a
// LiteLLM catalog's providers, and reach spans through LiteLLM's callbacks.
var liteLLMProviders = map[string]string{
	"azure_openai": "azure", "azure_ai": "azure", "amazon_bedrock": "aws", "sagemaker": "aws",
	"vertex": "google", "google_genai": "google", "google_vertex": "google",
	"grok": "x-ai", "codestral": "mistral", "cohere_chat": "cohere", "together_ai": "together",
	"fireworks_ai": "fireworks", "moonshot": "moonshotai", "watsonx": "ibm",
}

// catalogIDs are the genai-prices provider ids the tables above map to and
// a few more every catalog files providers under: names known to be a
// provider even when no loaded catalog has them ("openai/gpt-4o").
var catalogIDs = map[string]bool{
	"openai": true, "azure": true, "anthropic": true, "aws": true, "google": true, "x-ai": true,
	"mistral": true, "deepseek": true, "groq": true, "perplexity": true, "cohere": true, "together": true,
	"fireworks": true, "openrouter": true, "cerebras": true, "moonshotai": true, "ibm": true, "huggingface": true,
}

// catalogProvider maps one lowercased name to a catalog provider id: known
// reports whether it names a provider (a catalog id, or a name genaiconv or
// LiteLLM's table reads as one).
func catalogProvider(n string) (id string, known bool) {
	if catalogIDs[n] {
		return n, true
	}
	if id, ok := liteLLMProviders[n]; ok {
		return id, true
	}
	norm := genaiconv.NormalizeProvider(n)
	if id, ok := semconvProviders[norm]; ok {
		return id, true
	}
	if norm == "" {
		// A framework name (strands-agents): not a provider, and not
		// read as one either.
		return n, false
	}
	return norm, norm != n
}

// CanonicalProvider maps a provider name, as a span, LiteLLM or a config
// spells it, to the catalog provider id: "gcp.vertex_ai" → "google",
// "aws.bedrock" → "aws", "azure.ai.openai" → "azure", "x_ai" → "x-ai",
// "openai.chat" → "openai", "vertex_ai-language-models" → "google". A name
// it does not know comes back lowercased and trimmed.
func CanonicalProvider(name string) string {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		return ""
	}
	if id, ok := catalogProvider(n); ok {
		return id
	}
	// LiteLLM's sub-providers: "vertex_ai-language-models", "vertex_ai-anthropic_models".
	if pre, _, ok := strings.Cut(n, "-"); ok && strings.Contains(pre, "_") {
		if id, ok := catalogProvider(pre); ok {
			return id
		}
	}
	// Dotted names: the first known segment ("gcp.vertex_ai.x").
	if strings.Contains(n, ".") {
		for seg := range strings.SplitSeq(n, ".") {
			if id, ok := catalogProvider(seg); ok {
				return id
			}
		}
	}
	return n
}

// NormalizeTier maps a service tier name to the catalog's tier name: ""
// for the standard tier ("", "default", "auto", "standard", "on_demand"),
// else the lowercased name ("flex", "priority", "batch"; "scale" stays "scale").
func NormalizeTier(t string) string {
	switch s := strings.ToLower(strings.TrimSpace(t)); s {
	case "", "default", "auto", "standard", "on_demand", "on-demand":
		return ""
	case "batches":
		return "batch"
	default:
		return s
	}
}

// candidate is one spelling of a (provider, model) pair to look up.
type candidate struct {
	provider, name string
	note           string // how the name was derived ("" as given)
	// substitute: a different model priced instead (a dated snapshot by its
	// undated name, a fine-tune by its base). Tried only after every source
	// failed on all exact spellings.
	substitute bool
}

// bedrockRegions are the cross-region inference profile prefixes of Bedrock ids.
var bedrockRegions = []string{"us.", "eu.", "apac.", "us-gov.", "global.", "jp.", "au.", "ca."}

// bedrockVendors are the vendor prefixes of Bedrock model ids.
var bedrockVendors = []string{"anthropic.", "meta.", "amazon.", "mistral.", "cohere.", "ai21.", "deepseek.",
	"writer.", "qwen.", "openai.", "stability.", "twelvelabs.", "moonshot.", "minimax.", "google."}

// candidates lists, in order, the spellings of one name to look up: the
// alias (if configured) replaces the name; then the name as given; a
// "provider/" prefix removed (the prefix names the provider); a Google
// "models/" path removed; Bedrock's ARN, region, vendor and version parts
// removed; Vertex's "@date" removed. Then the substitutes: the undated name
// of a dated snapshot, the base model of a fine-tune.
func candidates(provider, modelName string, aliases map[string]string, isProvider func(string) bool) []candidate {
	name := strings.ToLower(strings.TrimSpace(modelName))
	prov := provider
	var out []candidate
	add := func(p, n, note string, sub bool) {
		if n == "" {
			return
		}
		for _, c := range out {
			if c.provider == p && c.name == n {
				return
			}
		}
		out = append(out, candidate{provider: p, name: n, note: note, substitute: sub})
	}
	note := ""
	if a, ok := aliases[name]; ok {
		name, note = strings.ToLower(strings.TrimSpace(a)), "alias of "+modelName
	}
	add(prov, name, note, false)
	spell := name
	// "openai/gpt-4o", "anthropic/claude-...": the prefix names the provider.
	if pre, rest, ok := strings.Cut(spell, "/"); ok && rest != "" && isProvider(pre) {
		prov, spell = pre, rest
		add(prov, spell, joinNote(note, "provider prefix "+pre+"/ removed"), false)
	}
	// Google: "models/gemini-1.5-pro", "publishers/google/models/gemini-1.5-pro".
	if i := strings.LastIndex(spell, "models/"); i >= 0 && i+len("models/") < len(spell) {
		spell = spell[i+len("models/"):]
		add(prov, spell, joinNote(note, "resource path removed"), false)
	}
	// Bedrock ARN: "arn:aws:bedrock:us-east-1:123:inference-profile/us.anthropic...".
	if strings.HasPrefix(spell, "arn:") {
		if i := strings.LastIndexByte(spell, '/'); i >= 0 {
			spell = spell[i+1:]
			add(prov, spell, joinNote(note, "ARN removed"), false)
		}
	}
	bed := spell
	for _, r := range bedrockRegions {
		if rest, ok := strings.CutPrefix(bed, r); ok && hasAnyPrefix(rest, bedrockVendors) {
			bed = rest
			add(prov, bed, joinNote(note, "Bedrock region prefix "+r+" removed"), false)
			break
		}
	}
	for _, v := range bedrockVendors {
		if rest, ok := strings.CutPrefix(bed, v); ok {
			bed = rest
			add(prov, bed, joinNote(note, "Bedrock id "+spell+" read as "+bed), false)
			break
		}
	}
	if bed != spell {
		// "-v2:0": the ":0" revision, then the "-v2" version.
		if i := strings.LastIndexByte(bed, ':'); i > 0 && allDigits(bed[i+1:]) {
			bed = bed[:i]
			add(prov, bed, joinNote(note, "Bedrock id "+spell+" read as "+bed), false)
		}
		if i := strings.LastIndex(bed, "-v"); i > 0 && allDigits(bed[i+2:]) && i+2 < len(bed) {
			bed = bed[:i]
			add(prov, bed, joinNote(note, "Bedrock id "+spell+" read as "+bed), false)
		}
		spell = bed
	}
	// Vertex: "claude-3-5-sonnet-v2@20241022".
	if i := strings.LastIndexByte(spell, '@'); i > 0 {
		spell = spell[:i]
		add(prov, spell, joinNote(note, "version @"+name[strings.LastIndexByte(name, '@')+1:]+" removed"), false)
	}
	// Substitutes.
	base, subNote := spell, note
	if rest, ok := strings.CutPrefix(base, "ft:"); ok {
		// ft:BASE:ORG[:NAME]:ID
		if b, _, ok := strings.Cut(rest, ":"); ok && b != "" {
			base = b
			subNote = joinNote(note, "fine-tune "+spell+" priced as its base model "+base)
			add(prov, base, subNote, true)
		}
	}
	if u := undated(base); u != base {
		add(prov, u, joinNote(subNote, "dated snapshot "+base+" priced as "+u), true)
	}
	return out
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func hasAnyPrefix(s string, pres []string) bool {
	for _, p := range pres {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// undated removes a snapshot date suffix: -YYYY-MM-DD, -YYYYMMDD, or an
// OpenAI -MMDD (gpt-4-0613); the name is returned unchanged without one.
func undated(s string) string {
	n := len(s)
	switch {
	case n > 11 && s[n-11] == '-' && s[n-6] == '-' && s[n-3] == '-' && allDigits(s[n-10:n-6]) && allDigits(s[n-5:n-3]) && allDigits(s[n-2:]):
		return s[:n-11]
	case n > 9 && s[n-9] == '-' && allDigits(s[n-8:]) && s[n-8:n-6] == "20":
		return s[:n-9]
	case n > 5 && s[n-5] == '-' && allDigits(s[n-4:]):
		mo, da := atoi(s[n-4:n-2]), atoi(s[n-2:])
		if mo >= 1 && mo <= 12 && da >= 1 && da <= 31 {
			return s[:n-5]
		}
	}
	return s
}
