package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
)

// Config is the configuration of the genai_cost processor.
type Config struct {
	// Pricing says where prices come from. Default: the genai-prices snapshot
	// embedded in the binary.
	Pricing PricingConfig `mapstructure:"pricing"`
	// Attribution says which attributes identify who made a call.
	Attribution AttributionConfig `mapstructure:"attribution"`
	// TokenConventions override the built-in table that says, per emitter,
	// whether a span's input count includes cache tokens (the semconv rule) or
	// excludes them (Anthropic's and Bedrock's raw counts). First match wins.
	// Default: none (the built-in table).
	TokenConventions []TokenConventionRule `mapstructure:"token_conventions"`
	// Billing decides which calls are billable, with a reason, and the plan of
	// each tenant (see BillingConfig).
	Billing BillingConfig `mapstructure:"billing"`
	// Limits bound what one call may claim (see LimitsConfig).
	Limits LimitsConfig `mapstructure:"limits"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PricingConfig configures the price book (see pricing_config.go).
type PricingConfig struct {
	// Sources are price catalogs, layered: a later source overrides an earlier
	// one for the same model. Empty (the default) means the embedded
	// genai-prices snapshot alone.
	Sources []SourceConfig `mapstructure:"sources"`
	// Aliases map model names as spans report them (Azure deployment names,
	// gateway routes) to the name to price them as ("gpt-4o",
	// "azure/gpt-4o"). Default: none.
	Aliases map[string]string `mapstructure:"aliases"`
	// Batch recognizes calls made through a batch API. Default: disabled.
	Batch BatchConfig `mapstructure:"batch"`
	// Revenue holds the rate cards by plan and by tenant. Default: none (no
	// revenue on records).
	Revenue RevenueConfig `mapstructure:"revenue"`
	// ReportedCost compares the cost a span reports with ours, and names the
	// providers whose reported cost is billed instead (see ReportedCostConfig).
	ReportedCost ReportedCostConfig `mapstructure:"reported_cost"`
}

// SourceConfig is one price catalog: a file or an HTTP(S) URL.
type SourceConfig struct {
	// Format: "genai-prices", "litellm" or "genaimeter" (native YAML). Required
	// for path and url.
	Format string `mapstructure:"format"`
	// Path of the file. Path or URL is required.
	Path string `mapstructure:"path"`
	// URL to fetch the catalog from (http or https).
	URL string `mapstructure:"url"`
	// Embedded: the genai-prices snapshot built into the binary, as a layer
	// (to put overrides on top of it). Format must then be genai-prices or empty.
	Embedded bool `mapstructure:"embedded"`
	// RefreshInterval reloads the source this often; a reload that fails or
	// does not parse keeps the last good catalog and is logged and counted.
	// 0 loads once at start. Default: 0.
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
}

// AttributionConfig lists, per identity, the attribute keys to look for: the
// first non-empty one wins, looked up on the span, then on its ancestors in the
// same trace (nearest first), then on the resource. Keys are also found under
// the metadata prefixes of known SDKs (`ai.telemetry.metadata.<key>`,
// `traceloop.association.properties.<key>`, ...).
type AttributionConfig struct {
	// Tenant keys. Required. Default: [tenant.id, tenant_id].
	Tenant []string `mapstructure:"tenant"`
	// User keys. Default: [user.id, enduser.id, user_id, userId].
	User []string `mapstructure:"user"`
	// Session keys. Default: [session.id, session_id, sessionId, gen_ai.conversation.id].
	Session []string `mapstructure:"session"`
	// Feature keys. Default: [feature, app.feature].
	Feature []string `mapstructure:"feature"`
	// Ancestors configures the look-up of identity on ancestor spans.
	Ancestors AncestorsConfig `mapstructure:"ancestors"`
}

// AncestorsConfig bounds the look-up of identity on ancestor spans. Children
// usually end, and are exported, before their parents: a call that lacks
// identity waits for its ancestors, and recently seen spans are remembered for
// the other order. At scale, feed each collector whole traces (the contrib
// loadbalancing exporter with routing_key: traceID).
type AncestorsConfig struct {
	// Wait is how long a call that lacks identity is held for its ancestors to
	// arrive; when it runs out the call goes on with what was found (tenant
	// "unattributed" if none). 0 disables holding. Default: 10s.
	Wait time.Duration `mapstructure:"wait"`
	// MaxPendingSpans bounds the calls held at once; past it the oldest goes on
	// early. Default: 10000.
	MaxPendingSpans int `mapstructure:"max_pending_spans"`
	// MaxRememberedSpans bounds the spans remembered as potential ancestors;
	// the oldest are forgotten first. Default: 100000.
	MaxRememberedSpans int `mapstructure:"max_remembered_spans"`
	// Storage is the ID of a storage extension (file_storage) in which held
	// calls are kept, so that a crash of the collector does not lose calls
	// whose batch was already acknowledged: they are written before their
	// batch is acknowledged, deleted once let go, and held again (with a fresh
	// wait) at the next start. A batch whose held calls cannot be written is
	// refused with a retryable error. Default: none, held calls are in memory
	// only and a crash loses them.
	Storage *component.ID `mapstructure:"storage"`
}

// TokenConventionRule says how to read the token counts of one emitter.
type TokenConventionRule struct {
	// ScopePrefix matches the instrumentation scope name by prefix ("" = any).
	ScopePrefix string `mapstructure:"scope_prefix"`
	// VersionBelow limits the rule to scope versions below this one ("" = any).
	VersionBelow string `mapstructure:"version_below"`
	// Provider matches the normalized provider name ("" = any).
	Provider string `mapstructure:"provider"`
	// Input is "inclusive" (input counts include cache reads and writes) or
	// "exclusive" ("" = keep the built-in decision).
	Input string `mapstructure:"input"`
	// Output is "inclusive" (output counts include reasoning) or "exclusive"
	// ("" = keep the built-in decision).
	Output string `mapstructure:"output"`
}

func (r TokenConventionRule) rule() genaiconv.Rule {
	return genaiconv.Rule{ScopePrefix: r.ScopePrefix, VersionBelow: r.VersionBelow, Provider: r.Provider,
		Input: genaiconv.Convention(r.Input), Output: genaiconv.Convention(r.Output)}
}

func conventions(rules []TokenConventionRule) (*genaiconv.Conventions, error) {
	if len(rules) == 0 {
		return nil, nil
	}
	rs := make([]genaiconv.Rule, len(rules))
	for i, r := range rules {
		rs[i] = r.rule()
	}
	return genaiconv.NewConventions(rs...)
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration without touching the file system: a missing
// or malformed price file is reported by Start, with its path and the reason.
func (cfg *Config) Validate() error {
	var errs error
	errs = errors.Join(errs, cfg.Pricing.validate())
	for i, r := range cfg.TokenConventions {
		if _, err := genaiconv.NewConventions(r.rule()); err != nil {
			errs = errors.Join(errs, fmt.Errorf("token_conventions[%d]: %w", i, err))
		}
	}
	a := &cfg.Attribution
	if len(a.Tenant) == 0 {
		errs = errors.Join(errs, errors.New("attribution.tenant: must list at least one attribute key"))
	}
	errs = errors.Join(errs, validateKeys("attribution.tenant", a.Tenant), validateKeys("attribution.user", a.User),
		validateKeys("attribution.session", a.Session), validateKeys("attribution.feature", a.Feature))
	if a.Ancestors.Wait < 0 {
		errs = errors.Join(errs, fmt.Errorf("attribution.ancestors.wait: must be >= 0, got %v", a.Ancestors.Wait))
	}
	if a.Ancestors.MaxPendingSpans < 1 {
		errs = errors.Join(errs, fmt.Errorf("attribution.ancestors.max_pending_spans: must be >= 1, got %d", a.Ancestors.MaxPendingSpans))
	}
	if a.Ancestors.MaxRememberedSpans < 1 {
		errs = errors.Join(errs, fmt.Errorf("attribution.ancestors.max_remembered_spans: must be >= 1, got %d", a.Ancestors.MaxRememberedSpans))
	}
	errs = errors.Join(errs, cfg.Billing.validate(), cfg.Limits.validate())
	return errs
}

func validateKeys(name string, keys []string) error {
	var errs error
	for i, k := range keys {
		if k == "" {
			errs = errors.Join(errs, fmt.Errorf("%s[%d]: must not be empty", name, i))
		}
	}
	return errs
}
