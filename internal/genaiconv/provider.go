package genaiconv

import "strings"

// semconvProvider says whether p is a gen_ai.provider.name value of the
// semconv: it is kept as it is, and so a dotted value is never mistaken for
// an AI SDK provider id. A switch, not a map: most calls name one of these,
// and this costs them a few comparisons instead of hashing.
func semconvProvider(p string) bool {
	switch p {
	case "openai", "anthropic", "aws.bedrock",
		"azure.ai.openai", "azure.ai.inference",
		"gcp.vertex_ai", "gcp.gemini", "gcp.gen_ai",
		"cohere", "ibm.watsonx.ai", "perplexity",
		"deepseek", "groq", "mistral_ai", "x_ai",
		"moonshot_ai":
		return true
	}
	return false
}

// providerAliases maps other provider spellings as emitted onto the current
// gen_ai.provider.name values; framework names map to "" (unknown: pricing
// falls back to the model name).
var providerAliases = map[string]string{

	// deprecated gen_ai.system values [sc-dep-141]
	"az.ai.openai":    "azure.ai.openai",
	"az.ai.inference": "azure.ai.inference",
	"vertex_ai":       "gcp.vertex_ai", // also Spring AI
	"gemini":          "gcp.gemini",
	"xai":             "x_ai",

	// AI SDK provider ids (v7 mapProviderName) [ai-map]
	"google.vertex":        "gcp.vertex_ai",
	"google-vertex":        "gcp.vertex_ai",
	"google.generative-ai": "gcp.gemini",
	"google":               "gcp.gemini",
	"amazon-bedrock":       "aws.bedrock",
	"bedrock":              "aws.bedrock",
	"azure-openai":         "azure.ai.openai", // also Spring AI
	"azure":                "azure.ai.inference",
	"mistral":              "mistral_ai",

	// OpenInference llm.system values [oi-semconv]
	"mistralai": "mistral_ai",
	"vertexai":  "gcp.vertex_ai",

	// Spring AI AiProvider values [spring-provider]
	"bedrock_converse": "aws.bedrock",

	// framework names: not a provider
	"strands-agents": "",
	"spring_ai":      "",
	"langchain":      "",
}

// oiProviderAliases are OpenInference llm.provider hosting values that differ
// from the general table [oi-semconv].
var oiProviderAliases = map[string]string{
	"azure":  "azure.ai.openai", // the OpenAI instrumentation's Azure client
	"google": "gcp.gen_ai",      // Google endpoint, backend unknown
	"aws":    "aws.bedrock",
}

// aiSDKPrefixes are AI SDK provider-id prefixes, matched before the id is cut
// at its first '.', in [ai-map] order.
var aiSDKPrefixes = [...]struct{ prefix, provider string }{
	{"google.vertex.", "gcp.vertex_ai"},
	{"google-vertex.", "gcp.vertex_ai"},
	{"google.generative-ai.", "gcp.gemini"},
}

// aiSDKHeads are the provider part of AI SDK provider ids [ai-map].
var aiSDKHeads = map[string]string{
	"openai": "openai", "anthropic": "anthropic", "xai": "x_ai", "mistral": "mistral_ai",
	"google": "gcp.gemini", "bedrock": "aws.bedrock", "amazon-bedrock": "aws.bedrock",
	"azure": "azure.ai.inference", "azure-openai": "azure.ai.openai",
	"groq": "groq", "deepseek": "deepseek", "cohere": "cohere", "perplexity": "perplexity",
}

// NormalizeProvider maps a provider name as emitted (gen_ai.provider.name,
// gen_ai.system, llm.provider, ai.model.provider, ...) onto the semconv value.
// AI SDK ids such as openai.chat or openai.responses lose their model-type
// suffix; framework names (strands-agents, spring_ai) become "". Unknown names
// are returned unchanged.
func NormalizeProvider(p string) string {
	return normalizeProviderFrom(p, subNone)
}

func normalizeProviderFrom(p string, from sub) string {
	if p == "" {
		return ""
	}
	if from == subOIProvider {
		if a, ok := oiProviderAliases[p]; ok {
			return a
		}
	}
	if semconvProvider(p) {
		return p
	}
	if a, ok := providerAliases[p]; ok {
		return a
	}
	if hasUpper(p) {
		return normalizeProviderFrom(strings.ToLower(p), from)
	}
	for _, e := range aiSDKPrefixes {
		if strings.HasPrefix(p, e.prefix) {
			return e.provider
		}
	}
	// AI SDK ids are {provider}.{model type}: openai.chat, anthropic.messages,
	// azure-openai.chat, mistral.embedding.
	if i := strings.IndexByte(p, '.'); i > 0 {
		if a, ok := aiSDKHeads[p[:i]]; ok {
			return a
		}
	}
	return p
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// providerFromHost maps a well-known API host (server.address) onto a
// provider; "" for anything else (a proxy, localhost).
func providerFromHost(h string) string {
	switch h {
	case "api.openai.com":
		return "openai"
	case "api.anthropic.com":
		return "anthropic"
	case "generativelanguage.googleapis.com":
		return "gcp.gemini"
	case "api.x.ai":
		return "x_ai"
	case "api.mistral.ai":
		return "mistral_ai"
	case "api.groq.com":
		return "groq"
	case "api.deepseek.com":
		return "deepseek"
	case "api.cohere.com", "api.cohere.ai":
		return "cohere"
	case "api.perplexity.ai":
		return "perplexity"
	}
	switch {
	case strings.HasSuffix(h, "aiplatform.googleapis.com"):
		return "gcp.vertex_ai"
	case strings.HasPrefix(h, "bedrock-runtime.") && strings.HasSuffix(h, ".amazonaws.com"):
		return "aws.bedrock"
	case strings.HasSuffix(h, ".openai.azure.com"):
		return "azure.ai.openai"
	case strings.HasSuffix(h, ".models.ai.azure.com"), strings.HasSuffix(h, ".services.ai.azure.com"):
		return "azure.ai.inference"
	}
	return ""
}
