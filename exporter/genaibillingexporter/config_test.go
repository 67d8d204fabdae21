package genaibillingexporter

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/genaimeter/genaimeter/exporter/genaibillingexporter/internal/metadata"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestConfigValid(t *testing.T) {
	cfg := loadConfig(t, "stripe")
	require.NoError(t, confmap.Validate(cfg))
	assert.Equal(t, backendStripe, cfg.Backend)
	assert.Equal(t, "sk_test_123", string(cfg.APIKey))
	assert.Equal(t, []string{defaultCondition}, cfg.Conditions)
	assert.Equal(t, ottl.PropagateError, cfg.ErrorMode)
	assert.Equal(t, 10*time.Second, cfg.Customers.ReloadInterval)
	assert.Equal(t, 30*time.Second, cfg.ClientConfig.Timeout)
	assert.Equal(t, time.Duration(0), cfg.RetryConfig.MaxElapsedTime, "never give up on unbilled records by default")
	assert.Equal(t, 4, cfg.MaxConcurrentRequests)
	assert.Equal(t, []MeterConfig{{Name: "genai_tokens", Value: valueTotalTokens},
		{Name: "genai_cost_nano_usd", Value: valueCostUSD, Scale: "1000000000"}}, cfg.Meters)

	full := loadConfig(t, "full")
	require.NoError(t, confmap.Validate(full))
	assert.Equal(t, "v2", full.Stripe.API)
	assert.Equal(t, "https://api.stripe.example", full.ClientConfig.Endpoint)
	assert.Equal(t, 10*time.Second, full.ClientConfig.Timeout)
	assert.Equal(t, time.Minute, full.Aggregation.Window)
	assert.Equal(t, ottl.IgnoreError, full.ErrorMode)
	assert.Equal(t, time.Hour, full.RetryConfig.MaxElapsedTime)
	assert.Equal(t, 8, full.MaxConcurrentRequests)
}

func TestConfigInvalid(t *testing.T) {
	tests := map[string][]string{
		"empty": {
			`backend: must be one of stripe, openmeter, lago, orb, metronome, webhook, got ""`,
			"customers.file: must not be empty",
			"dead_letter.path: must not be empty",
			"meters: at least one meter is required",
		},
		"bad_values": {
			`backend: must be one of stripe, openmeter, lago, orb, metronome, webhook, got "chargebee"`,
			`endpoint: must be an http(s) URL, got "ftp://x"`,
			`stripe.api: must be v1 or v2, got "v3"`,
			"customers.file: must not be empty",
			"customers.reload_interval: must be >= 0, got -1s",
			"dead_letter.path: must not be empty",
			"max_concurrent_requests: must be >= 1, got 0",
			"aggregation.window: must be >= 0, got -1m0s",
			`meters[0].name: must be 1 to 50 characters of [A-Za-z0-9_.:-], got "has space"`,
			`meters[0].value: must be one of input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, total_tokens, cost_usd, revenue_usd, credits, got "dollars"`,
			`meters[0].scale: must be a positive decimal, got "-1"`,
			`meters[1].credits_per_usd: only allowed with value credits, got value "total_tokens"`,
			`meters[2].name: duplicate meter "genai_tokens"`,
			"meters[2].credits_per_usd: required for value credits",
		},
		"webhook_no_secret": {
			"endpoint: required for the webhook backend",
			"webhook.secret: required for the webhook backend",
		},
		"bad_condition": {"conditions: "},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := loadConfig(t, name)
			require.Error(t, confmap.Validate(cfg))
			err := cfg.Validate()
			require.Error(t, err)
			for _, w := range want {
				assert.Contains(t, err.Error(), w)
			}
			if name != "bad_condition" {
				assert.Len(t, strings.Split(err.Error(), "\n"), len(want), err.Error())
			}
		})
	}
}
