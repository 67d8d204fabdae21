package genaiusageserviceextension

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/genaimeter/genaimeter/extension/genaiusageserviceextension/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config), confmap.Validate(cfg)
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, "./plans.yaml", cfg.Plans)
	assert.Equal(t, 10*time.Second, cfg.ReloadInterval)
	assert.Equal(t, "127.0.0.1:8790", cfg.HTTP.NetAddr.Endpoint, "loopback by default")
	assert.Equal(t, RateLimitConfig{PerSecond: 50, Burst: 100}, cfg.RateLimit)

	cfg, err = loadConfig(t, "postgres")
	require.NoError(t, err)
	assert.Equal(t, "postgres://genaimeter@db.internal:5432/ledger?sslmode=verify-full", cfg.Postgres.Endpoint)
	assert.Equal(t, time.Minute, cfg.ReloadInterval)
	require.True(t, cfg.HTTP.TLS.HasValue())
	assert.Equal(t, "/etc/genaimeter/tls.crt", cfg.HTTP.TLS.Get().CertFile)
	assert.Equal(t, RateLimitConfig{PerSecond: 5, Burst: 10}, cfg.RateLimit)

	cfg, err = loadConfig(t, "alerts")
	require.NoError(t, err)
	assert.Equal(t, AlertsConfig{Interval: 500 * time.Millisecond, DeadLetter: "./data/alerts.dead.jsonl",
		Webhook: WebhookConfig{Endpoint: "https://hooks.example.com/genaimeter", Secret: "s3cret", MaxAttempts: 3,
			InitialBackoff: time.Second, MaxBackoff: time.Minute, Timeout: 10 * time.Second}}, cfg.Alerts)

	cfg, err = loadConfig(t, "ui")
	require.NoError(t, err)
	assert.Equal(t, UIConfig{Title: "Acme AI usage", LogoURL: "https://cdn.acme.example/logo.svg",
		TraceURL: "https://grafana.example.com/explore?traceId={trace_id}", LinkSecret: "l1nk-s3cret", LinkTTL: 15 * time.Minute,
		FrameAncestors: "https://app.acme.example"}, cfg.UI)
}

func TestConfigErrors(t *testing.T) {
	for name, want := range map[string]string{
		"both":     "sqlite.path and postgres.endpoint are exclusive: give the one ledger the service reads",
		"neither":  "sqlite.path or postgres.endpoint: one is required (the ledger the service reads)",
		"no_plans": "plans: required (the plans file)",
		"bad_values": "postgres.endpoint: want a postgres:// URL, got \"mysql://x\"\n" +
			"reload_interval: must be >= 0, got -1s\n" +
			"rate_limit.per_second: must be > 0, got 0\n" +
			"rate_limit.burst: must be >= 1, got 0",
		"bad_alerts": "alerts.webhook.endpoint: want an http(s) URL, got \"ftp://hooks\"\n" +
			"alerts.webhook.secret: required (receivers verify the Genaimeter-Signature with it)\n" +
			"alerts.webhook.max_attempts: must be >= 1, got 0\n" +
			"alerts.webhook.max_backoff: must be >= initial_backoff (10s), got 1s\n" +
			"alerts.webhook.timeout: must be > 0, got 0s\n" +
			"alerts.interval: must be > 0, got 0s",
		"bad_ui": "ui.trace_url: want an http(s) URL with {trace_id} in it, got \"https://grafana.example.com/explore\"\n" +
			"ui.logo_url: want an https URL or a path on this server (the page's CSP allows no other), got \"http://insecure.example/logo.png\"\n" +
			"ui.link_ttl: must be >= 0, got -1m0s\n" +
			"ui.frame_ancestors: want CSP sources separated by spaces, got \"*; script-src *\"",
	} {
		_, err := loadConfig(t, name)
		assert.EqualError(t, err, want, name)
	}
}
