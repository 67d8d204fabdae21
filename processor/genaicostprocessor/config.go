package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/confmap"
)

// Config is the configuration of the genai_cost processor.
type Config struct {
	// Pricing says where prices come from. Default: the genai-prices snapshot
	// embedded in the binary.
	Pricing PricingConfig `mapstructure:"pricing"`
	// Attribution says which attributes identify who made a call.
	Attribution AttributionConfig `mapstructure:"attribution"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// PricingConfig configures the price catalog.
type PricingConfig struct {
	// Sources are price catalogs to load at start. Empty (the default) means the
	// embedded genai-prices snapshot.
	Sources []SourceConfig `mapstructure:"sources"`
}

// SourceConfig is one price catalog file.
type SourceConfig struct {
	// Format of the file. Supported: "genai-prices". Required.
	Format string `mapstructure:"format"`
	// Path of the file. Required.
	Path string `mapstructure:"path"`
}

// AttributionConfig lists, per identity, the attribute keys to look for: the
// first non-empty one wins, on the span first, then on the resource.
type AttributionConfig struct {
	// Tenant keys. Default: [tenant.id, tenant_id].
	Tenant []string `mapstructure:"tenant"`
	// User keys. Default: [user.id, enduser.id, gen_ai.user.id].
	User []string `mapstructure:"user"`
}

// Formats the processor can load.
const formatGenAIPrices = "genai-prices"

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration without touching the file system: a missing
// or malformed price file is reported by Start, with its path and the reason.
func (cfg *Config) Validate() error {
	var errs error
	for i, s := range cfg.Pricing.Sources {
		switch s.Format {
		case formatGenAIPrices:
		case "":
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].format: must be set (supported: %s)", i, formatGenAIPrices))
		default:
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].format: unsupported format %q (supported: %s)", i, s.Format, formatGenAIPrices))
		}
		if s.Path == "" {
			errs = errors.Join(errs, fmt.Errorf("pricing.sources[%d].path: must not be empty", i))
		}
	}
	if len(cfg.Pricing.Sources) > 1 {
		errs = errors.Join(errs, fmt.Errorf("pricing.sources: %d sources given, layering several sources is not supported yet: give one", len(cfg.Pricing.Sources)))
	}
	errs = errors.Join(errs, validateKeys("attribution.tenant", cfg.Attribution.Tenant), validateKeys("attribution.user", cfg.Attribution.User))
	return errs
}

func validateKeys(name string, keys []string) error {
	var errs error
	if len(keys) == 0 {
		errs = errors.Join(errs, fmt.Errorf("%s: must list at least one attribute key", name))
	}
	for i, k := range keys {
		if k == "" {
			errs = errors.Join(errs, fmt.Errorf("%s[%d]: must not be empty", name, i))
		}
	}
	return errs
}
