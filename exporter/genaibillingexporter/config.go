package genaibillingexporter

import (
	"errors"

	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/genaimeter/genaimeter/internal/money"
)

// Backends.
const (
	backendStripe    = "stripe"
	backendOpenMeter = "openmeter"
	backendLago      = "lago"
	backendOrb       = "orb"
	backendMetronome = "metronome"
	backendWebhook   = "webhook"
)

var backends = []string{backendStripe, backendOpenMeter, backendLago, backendOrb, backendMetronome, backendWebhook}

// Values a meter can send.
const (
	valueInputTokens      = "input_tokens"
	valueOutputTokens     = "output_tokens"
	valueCacheReadTokens  = "cache_read_tokens"
	valueCacheWriteTokens = "cache_write_tokens"
	valueReasoningTokens  = "reasoning_tokens"
	valueTotalTokens      = "total_tokens" // input + output (input already includes cache tokens)
	valueCostUSD          = "cost_usd"
	valueRevenueUSD       = "revenue_usd"
	valueCredits          = "credits" // revenue_usd × credits_per_usd
)

var values = []string{valueInputTokens, valueOutputTokens, valueCacheReadTokens, valueCacheWriteTokens,
	valueReasoningTokens, valueTotalTokens, valueCostUSD, valueRevenueUSD, valueCredits}

// Config is the genai_billing exporter configuration: one backend per
// instance (genai_billing/stripe, genai_billing/lago, ...).
type Config struct {
	// ClientConfig is the HTTP client (endpoint, TLS, timeout, headers, proxy).
	// endpoint defaults to the backend's public API (Stripe
	// https://api.stripe.com, OpenMeter https://openmeter.cloud, Lago
	// https://api.getlago.com, Orb https://api.withorb.com, Metronome
	// https://api.metronome.com); the webhook backend requires it and posts to
	// it as is. timeout bounds one HTTP request (default 30s).
	ClientConfig confighttp.ClientConfig `mapstructure:",squash"`

	// Backend is one of stripe, openmeter, lago, orb, metronome, webhook (required).
	Backend string `mapstructure:"backend"`
	// APIKey is sent as "Authorization: Bearer <api_key>" (required except for
	// the webhook backend, where it is optional).
	APIKey configopaque.String `mapstructure:"api_key"`

	// Stripe holds the settings of the stripe backend.
	Stripe StripeConfig `mapstructure:"stripe"`
	// OpenMeter holds the settings of the openmeter backend.
	OpenMeter OpenMeterConfig `mapstructure:"openmeter"`
	// Webhook holds the settings of the webhook backend.
	Webhook WebhookConfig `mapstructure:"webhook"`

	// Customers maps tenant ids to the backend's customer ids (required).
	Customers CustomersConfig `mapstructure:"customers"`

	// Conditions select the records that are billed: a record is sent if any
	// condition (OTTL, log context) is true. Default:
	// `attributes["genaimeter.billable"] == true`.
	Conditions []string `mapstructure:"conditions"`
	// ErrorMode of the conditions (default propagate: a condition that fails
	// to evaluate dead-letters the record instead of silently not billing it).
	ErrorMode ottl.ErrorMode `mapstructure:"error_mode"`

	// Meters are the values sent, one event per record and meter (at least one).
	Meters []MeterConfig `mapstructure:"meters"`

	// Aggregation optionally sums the events of one tenant and meter over a
	// time window before sending (default off).
	Aggregation AggregationConfig `mapstructure:"aggregation"`

	// DeadLetter is the file that receives every event or record that is not
	// delivered: refused by the backend, held back (no customer mapping), or
	// not billable as configured (required).
	DeadLetter DeadLetterConfig `mapstructure:"dead_letter"`

	// MaxConcurrentRequests bounds the HTTP requests one export runs in
	// parallel (default 4).
	MaxConcurrentRequests int `mapstructure:"max_concurrent_requests"`

	// QueueConfig is the sending queue (default: enabled, in memory, with
	// batching on). Use a persistent queue (storage: file_storage) so that a
	// restart does not lose records that were accepted but not yet delivered.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig retries failed deliveries (default: enabled, 5s initial
	// interval, 30s max interval, max_elapsed_time 0: retry until the backend
	// answers, because giving up would drop records that were never billed).
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Prevent unkeyed literals.
	_ struct{}
}

// StripeConfig selects the Stripe API.
type StripeConfig struct {
	// API is v1 (POST /v1/billing/meter_events, one event per request) or v2
	// (meter event session + stream, up to 100 events per request). Default v1.
	API string `mapstructure:"api"`
	// StreamEndpoint is the v2 meter event stream host (default
	// https://meter-events.stripe.com).
	StreamEndpoint string `mapstructure:"stream_endpoint"`

	_ struct{}
}

// OpenMeterConfig holds the CloudEvents settings.
type OpenMeterConfig struct {
	// Source is the CloudEvents source (default "genaimeter"). OpenMeter
	// dedupes on id + source: change it and replays are no longer deduped.
	Source string `mapstructure:"source"`

	_ struct{}
}

// WebhookConfig holds the signing settings of the webhook backend.
type WebhookConfig struct {
	// Secret signs every request (required for the webhook backend): header
	// Genaimeter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
	Secret configopaque.String `mapstructure:"secret"`

	_ struct{}
}

// CustomersConfig locates the tenant → customer id map.
type CustomersConfig struct {
	// File is a YAML map of tenant id to the backend's customer id (Stripe
	// customer id, OpenMeter subject, Lago external_subscription_id, Orb
	// external_customer_id, Metronome customer id or ingest alias). Required.
	File string `mapstructure:"file"`
	// ReloadInterval is how often the file is checked for changes (default
	// 10s). A file that does not parse is logged and the last good map kept.
	ReloadInterval time.Duration `mapstructure:"reload_interval"`

	_ struct{}
}

// MeterConfig is one billed value.
type MeterConfig struct {
	// Name is the event name (Stripe meter event_name, Lago billable metric
	// code, Orb/Metronome event_type, OpenMeter type). Required, 1 to 50
	// characters of [A-Za-z0-9_.:-].
	Name string `mapstructure:"name"`
	// Value is what is sent: input_tokens, output_tokens, cache_read_tokens,
	// cache_write_tokens, reasoning_tokens, total_tokens, cost_usd,
	// revenue_usd or credits (required).
	Value string `mapstructure:"value"`
	// Scale multiplies the value (exact decimal, default "1"), e.g. "1000000"
	// to send cost in micro-USD. Stripe meters take whole numbers: an event
	// whose scaled value is not an integer is refused (dead-lettered with
	// reason inexact_value), never rounded.
	Scale string `mapstructure:"scale"`
	// CreditsPerUSD converts revenue to credits (exact decimal; required for
	// value credits, not allowed otherwise).
	CreditsPerUSD string `mapstructure:"credits_per_usd"`

	_ struct{}
}

// AggregationConfig configures pre-aggregation.
type AggregationConfig struct {
	// Window is the time bucket (by record time) over which the events of one
	// tenant and meter are summed within one exported batch; 0 (default)
	// sends one event per record. Set sending_queue.batch.flush_timeout close
	// to the window so that a batch holds a window's records.
	Window time.Duration `mapstructure:"window"`
	// Storage is a storage extension (file_storage) that remembers which
	// window event each call went into, so that a call replayed after a
	// restart is never aggregated, and billed, again. Without it this is
	// remembered in memory only (a warning at start).
	Storage *component.ID `mapstructure:"storage"`

	_ struct{}
}

// DeadLetterConfig locates the dead-letter file.
type DeadLetterConfig struct {
	// Path of the JSON-lines file (required); its directory is created if missing.
	Path string `mapstructure:"path"`

	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

var meterNameRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,50}$`)

// Validate checks the configuration without I/O.
func (c *Config) Validate() error {
	var errs error
	if !slices.Contains(backends, c.Backend) {
		errs = errors.Join(errs, fmt.Errorf("backend: must be one of %s, got %q", strings.Join(backends, ", "), c.Backend))
	}
	if c.Backend == backendWebhook {
		if c.ClientConfig.Endpoint == "" {
			errs = errors.Join(errs, errors.New("endpoint: required for the webhook backend"))
		}
		if c.Webhook.Secret == "" {
			errs = errors.Join(errs, errors.New("webhook.secret: required for the webhook backend"))
		}
	} else if slices.Contains(backends, c.Backend) && c.APIKey == "" {
		errs = errors.Join(errs, fmt.Errorf("api_key: required for the %s backend", c.Backend))
	}
	errs = errors.Join(errs, validateHTTPURL("endpoint", c.ClientConfig.Endpoint),
		validateHTTPURL("stripe.stream_endpoint", c.Stripe.StreamEndpoint))
	if a := c.Stripe.API; a != "" && a != "v1" && a != "v2" {
		errs = errors.Join(errs, fmt.Errorf("stripe.api: must be v1 or v2, got %q", a))
	}
	if strings.TrimSpace(c.Customers.File) == "" {
		errs = errors.Join(errs, errors.New("customers.file: must not be empty"))
	}
	if c.Customers.ReloadInterval < 0 {
		errs = errors.Join(errs, fmt.Errorf("customers.reload_interval: must be >= 0, got %s", c.Customers.ReloadInterval))
	}
	if strings.TrimSpace(c.DeadLetter.Path) == "" {
		errs = errors.Join(errs, errors.New("dead_letter.path: must not be empty"))
	}
	if c.MaxConcurrentRequests < 1 {
		errs = errors.Join(errs, fmt.Errorf("max_concurrent_requests: must be >= 1, got %d", c.MaxConcurrentRequests))
	}
	if c.Aggregation.Window < 0 {
		errs = errors.Join(errs, fmt.Errorf("aggregation.window: must be >= 0, got %s", c.Aggregation.Window))
	}
	if len(c.Meters) == 0 {
		errs = errors.Join(errs, errors.New("meters: at least one meter is required"))
	}
	seen := map[string]bool{}
	for i, m := range c.Meters {
		if !meterNameRE.MatchString(m.Name) {
			errs = errors.Join(errs, fmt.Errorf("meters[%d].name: must be 1 to 50 characters of [A-Za-z0-9_.:-], got %q", i, m.Name))
		} else if seen[m.Name] {
			errs = errors.Join(errs, fmt.Errorf("meters[%d].name: duplicate meter %q", i, m.Name))
		}
		seen[m.Name] = true
		if !slices.Contains(values, m.Value) {
			errs = errors.Join(errs, fmt.Errorf("meters[%d].value: must be one of %s, got %q", i, strings.Join(values, ", "), m.Value))
		}
		if m.Scale != "" {
			if d, err := money.Parse(m.Scale); err != nil || d.Sign() <= 0 {
				errs = errors.Join(errs, fmt.Errorf("meters[%d].scale: must be a positive decimal, got %q", i, m.Scale))
			}
		}
		switch {
		case m.Value == valueCredits && m.CreditsPerUSD == "":
			errs = errors.Join(errs, fmt.Errorf("meters[%d].credits_per_usd: required for value credits", i))
		case m.Value != valueCredits && m.CreditsPerUSD != "":
			errs = errors.Join(errs, fmt.Errorf("meters[%d].credits_per_usd: only allowed with value credits, got value %q", i, m.Value))
		case m.CreditsPerUSD != "":
			if d, err := money.Parse(m.CreditsPerUSD); err != nil || d.Sign() <= 0 {
				errs = errors.Join(errs, fmt.Errorf("meters[%d].credits_per_usd: must be a positive decimal, got %q", i, m.CreditsPerUSD))
			}
		}
	}
	switch c.ErrorMode {
	case ottl.PropagateError, ottl.IgnoreError, ottl.SilentError:
	default:
		errs = errors.Join(errs, fmt.Errorf("error_mode: must be propagate, ignore or silent, got %q", c.ErrorMode))
	}
	if len(c.Conditions) == 0 {
		errs = errors.Join(errs, errors.New("conditions: at least one condition is required"))
	} else if _, err := parseConditions(c.Conditions, nopSettings()); err != nil {
		errs = errors.Join(errs, fmt.Errorf("conditions: %w", err))
	}
	return errs
}

// validateHTTPURL checks an optional URL setting: empty, or http(s) with a host.
func validateHTTPURL(key, v string) error {
	if v == "" {
		return nil
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: must be an http(s) URL, got %q", key, v)
	}
	return nil
}
