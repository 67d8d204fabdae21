package genaiusageserviceextension

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
)

// Config of the genai_usage_service extension.
type Config struct {
	// Plans is the plans file (native YAML; see package entitlement).
	// Required. It is reloaded when it changes; a broken edit keeps the last
	// good plans and is logged with its line and column.
	Plans string `mapstructure:"plans"`
	// ReloadInterval is how often the plans file is checked (default 10s; 0
	// loads it once).
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// SQLite is the ledger file the genai_ledger exporter writes (give it
	// or postgres).
	SQLite SQLiteConfig `mapstructure:"sqlite"`
	// Postgres is a PostgreSQL ledger shared by several collectors.
	Postgres PostgresConfig `mapstructure:"postgres"`
	// HTTP is the API's server: endpoint (default 127.0.0.1:8790), TLS and
	// the other confighttp server settings.
	HTTP confighttp.ServerConfig `mapstructure:"http"`
	// RateLimit is each API key's token bucket.
	RateLimit RateLimitConfig `mapstructure:"rate_limit"`
	// Alerts delivers the alerts the ledger fires (thresholds of the plans'
	// allowances and grants) to a signed webhook. Off without an endpoint.
	Alerts AlertsConfig `mapstructure:"alerts"`
	// UI configures the web pages served under /ui (admin console and
	// customer page).
	UI UIConfig `mapstructure:"ui"`

	_ struct{}
}

// UIConfig configures the web pages.
type UIConfig struct {
	// Title heads every page (default "Usage"); LogoURL is an https URL or
	// a path on this server of the image beside it.
	Title   string `mapstructure:"title"`
	LogoURL string `mapstructure:"logo_url"`
	// TraceURL links each call on the admin pages to the trace in your
	// tracing UI: {trace_id} is replaced by the call's trace id, e.g.
	// https://grafana.example.com/explore?traceId={trace_id}.
	TraceURL string `mapstructure:"trace_url"`
	// LinkSecret signs the customer links (GET
	// /v1/tenants/{tenant}/customer-link); give every instance behind one
	// address the same secret. Random per process when empty: links then
	// end with the process.
	LinkSecret configopaque.String `mapstructure:"link_secret"`
	// LinkTTL is how long a customer link is good for (default 1h).
	LinkTTL time.Duration `mapstructure:"link_ttl"`
	// FrameAncestors is who may embed the customer page in an iframe (the
	// CSP frame-ancestors value; default "*").
	FrameAncestors string `mapstructure:"frame_ancestors"`
}

// SQLiteConfig locates a SQLite ledger.
type SQLiteConfig struct {
	Path string `mapstructure:"path"`
}

// PostgresConfig locates a PostgreSQL ledger.
type PostgresConfig struct {
	// Endpoint is a postgres:// URL (TLS with sslmode=verify-full and
	// sslrootcert in the URL).
	Endpoint string `mapstructure:"endpoint"`
}

// AlertsConfig is the alert webhook.
type AlertsConfig struct {
	Webhook WebhookConfig `mapstructure:"webhook"`
	// Interval is how often the outbox is checked for due alerts (default 2s).
	Interval time.Duration `mapstructure:"interval"`
	// DeadLetter is a JSON-lines file for the alerts given up on, with the
	// reason (the reason is also kept in the ledger). Optional.
	DeadLetter string `mapstructure:"dead_letter"`
}

// WebhookConfig is where alerts are posted, signed like the billing
// webhook (Genaimeter-Signature, package pkg/webhooksig).
type WebhookConfig struct {
	Endpoint string              `mapstructure:"endpoint"`
	Secret   configopaque.String `mapstructure:"secret"`
	// MaxAttempts before an alert is dead-lettered (default 8).
	MaxAttempts int `mapstructure:"max_attempts"`
	// InitialBackoff doubles per failed attempt up to MaxBackoff (defaults
	// 1s, 5m); a longer Retry-After is honoured.
	InitialBackoff time.Duration `mapstructure:"initial_backoff"`
	MaxBackoff     time.Duration `mapstructure:"max_backoff"`
	// Timeout of one post (default 10s).
	Timeout time.Duration `mapstructure:"timeout"`
}

// RateLimitConfig sizes each key's token bucket.
type RateLimitConfig struct {
	// PerSecond is the sustained rate (default 50).
	PerSecond float64 `mapstructure:"per_second"`
	// Burst is the bucket's size (default 100).
	Burst int `mapstructure:"burst"`
}

// Validate checks the configuration without touching files or the network.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Plans) == "" {
		errs = append(errs, errors.New("plans: required (the plans file)"))
	}
	sqlite, pg := strings.TrimSpace(c.SQLite.Path) != "", strings.TrimSpace(c.Postgres.Endpoint) != ""
	switch {
	case sqlite && pg:
		errs = append(errs, errors.New("sqlite.path and postgres.endpoint are exclusive: give the one ledger the service reads"))
	case !sqlite && !pg:
		errs = append(errs, errors.New("sqlite.path or postgres.endpoint: one is required (the ledger the service reads)"))
	}
	if pg && !strings.HasPrefix(c.Postgres.Endpoint, "postgres://") && !strings.HasPrefix(c.Postgres.Endpoint, "postgresql://") {
		errs = append(errs, fmt.Errorf("postgres.endpoint: want a postgres:// URL, got %q", c.Postgres.Endpoint))
	}
	if c.ReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("reload_interval: must be >= 0, got %s", c.ReloadInterval))
	}
	if c.RateLimit.PerSecond <= 0 {
		errs = append(errs, fmt.Errorf("rate_limit.per_second: must be > 0, got %v", c.RateLimit.PerSecond))
	}
	if c.RateLimit.Burst < 1 {
		errs = append(errs, fmt.Errorf("rate_limit.burst: must be >= 1, got %d", c.RateLimit.Burst))
	}
	if strings.TrimSpace(c.HTTP.NetAddr.Endpoint) == "" {
		errs = append(errs, errors.New("http.endpoint: required"))
	}
	errs = append(errs, c.Alerts.validate()...)
	errs = append(errs, c.UI.validate()...)
	return errors.Join(errs...)
}

func (u *UIConfig) validate() []error {
	var errs []error
	if u.TraceURL != "" {
		if p, err := url.Parse(strings.ReplaceAll(u.TraceURL, "{trace_id}", "x")); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" ||
			!strings.Contains(u.TraceURL, "{trace_id}") {
			errs = append(errs, fmt.Errorf("ui.trace_url: want an http(s) URL with {trace_id} in it, got %q", u.TraceURL))
		}
	}
	if u.LogoURL != "" && !strings.HasPrefix(u.LogoURL, "https://") && !strings.HasPrefix(u.LogoURL, "/") {
		errs = append(errs, fmt.Errorf("ui.logo_url: want an https URL or a path on this server (the page's CSP allows no other), got %q", u.LogoURL))
	}
	if u.LinkTTL < 0 {
		errs = append(errs, fmt.Errorf("ui.link_ttl: must be >= 0, got %s", u.LinkTTL))
	}
	if strings.ContainsAny(u.FrameAncestors, ";,\r\n") {
		errs = append(errs, fmt.Errorf("ui.frame_ancestors: want CSP sources separated by spaces, got %q", u.FrameAncestors))
	}
	return errs
}

func (a *AlertsConfig) validate() []error {
	w := &a.Webhook
	if w.Endpoint == "" {
		return nil
	}
	var errs []error
	if u, err := url.Parse(w.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("alerts.webhook.endpoint: want an http(s) URL, got %q", w.Endpoint))
	}
	if w.Secret == "" {
		errs = append(errs, errors.New("alerts.webhook.secret: required (receivers verify the Genaimeter-Signature with it)"))
	}
	if w.MaxAttempts < 1 {
		errs = append(errs, fmt.Errorf("alerts.webhook.max_attempts: must be >= 1, got %d", w.MaxAttempts))
	}
	if w.InitialBackoff <= 0 {
		errs = append(errs, fmt.Errorf("alerts.webhook.initial_backoff: must be > 0, got %s", w.InitialBackoff))
	}
	if w.MaxBackoff < w.InitialBackoff {
		errs = append(errs, fmt.Errorf("alerts.webhook.max_backoff: must be >= initial_backoff (%s), got %s", w.InitialBackoff, w.MaxBackoff))
	}
	if w.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("alerts.webhook.timeout: must be > 0, got %s", w.Timeout))
	}
	if a.Interval <= 0 {
		errs = append(errs, fmt.Errorf("alerts.interval: must be > 0, got %s", a.Interval))
	}
	return errs
}
