package genaicostprocessor

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{
			id:   component.NewID(metadata.Type),
			want: createDefaultConfig().(*Config),
		},
		{
			id: component.NewIDWithName(metadata.Type, "file"),
			want: &Config{
				Pricing: PricingConfig{Sources: []SourceConfig{{Format: "genai-prices", Path: "./prices/data.json"}}},
				Attribution: AttributionConfig{
					Tenant:    []string{"tenant.id", "tenant_id"},
					User:      defaultUserKeys,
					Session:   defaultSessionKeys,
					Feature:   defaultFeatureKeys,
					Ancestors: AncestorsConfig{Wait: defaultAncestorWait, MaxPendingSpans: defaultMaxPendingSpans, MaxRememberedSpans: defaultMaxRememberedSpans},
				},
				Billing: createDefaultConfig().(*Config).Billing,
				Limits:  LimitsConfig{MaxTokenCount: 5_000_000},
			},
		},
		{
			id: component.NewIDWithName(metadata.Type, "billing"),
			want: func() *Config {
				cfg := createDefaultConfig().(*Config)
				cfg.Billing = BillingConfig{
					ErrorMode: ottl.PropagateError,
					Plans:     PlansConfig{File: "./plans.yaml", DefaultPlan: "free", ReloadInterval: time.Minute},
					Rules: []BillingRule{
						{Name: "internal_tenant", Condition: `attributes["genaimeter.tenant_id"] == "dogfood"`},
						{Name: "vip", Condition: `attributes["genaimeter.plan"] == "enterprise"`, Billable: true},
					},
				}
				return cfg
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "storage"),
			want: func() *Config {
				cfg := createDefaultConfig().(*Config)
				cfg.Attribution.Ancestors.Wait = time.Minute
				id := component.MustNewIDWithName("file_storage", "held")
				cfg.Attribution.Ancestors.Storage = &id
				return cfg
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "no_rules"),
			want: func() *Config {
				cfg := createDefaultConfig().(*Config)
				cfg.Billing.Rules = []BillingRule{}
				return cfg
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "bad_ottl"),
			wantErr: "billing.rules[1].condition: 1:20: condition has invalid syntax: (expected Field (\".\" Field)*)\n" +
				"billing.rules[2].condition: 1:1: condition failed to parse near `foo == \"y\"`: segment \"foo\" from path \"foo\" " +
				"is not a valid path nor a valid OTTL keyword for the span context - review " +
				"https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/pkg/ottl/contexts/ottlspan to see all valid paths",
		},
		{
			id: component.NewIDWithName(metadata.Type, "bad_billing"),
			wantErr: "billing.rules[0].name: must not be empty\n" +
				"billing.rules[1].name: \"has space\" may only hold letters, digits, '_', '.' and '-'\n" +
				"billing.rules[2].name: \"default\" is reserved\n" +
				"billing.rules[4].name: \"trial\" is already the name of billing.rules[3]\n" +
				"billing.rules[5].name: \"rule_error\" is reserved\n" +
				"billing.rules[4].condition: must not be empty\n" +
				"billing.plans.default_plan: must be set when billing.plans.file is set (it is the plan of tenants the file does not list)\n" +
				"billing.plans.reload_interval: must be >= 0, got -1s",
		},
		{
			id: component.NewIDWithName(metadata.Type, "pricing"),
			want: func() *Config {
				cfg := createDefaultConfig().(*Config)
				cfg.Pricing = PricingConfig{
					Sources: []SourceConfig{
						{Format: "genai-prices", Path: "./prices/data.json"},
						{Format: "litellm", URL: "https://prices.example.com/model_prices_and_context_window.json", RefreshInterval: time.Hour},
						{Format: "genaimeter", Path: "./prices/contract.yaml"},
					},
					Aliases: map[string]string{"prod-gpt4o-eastus": "azure/gpt-4o"},
					Batch:   BatchConfig{Attribute: "llm.is_batch"},
					Revenue: RevenueConfig{
						Default: &RateCardConfig{MarkupPercent: "20"},
						Plans: map[string]RateCardConfig{
							// YAML numbers keep their decimal text (0.30 is the number 0.3).
							"pro":     {Rates: map[string]string{"input_mtok": "3", "output_mtok": "12.5", "cache_read_mtok": "0.3"}},
							"credits": {Rates: map[string]string{"input_mtok": "100", "output_mtok": "300"}, USDPerCredit: "0.0125"},
						},
						Tenants: map[string]RateCardConfig{"acme": {MarkupPercent: "7.5"}},
					},
				}
				return cfg
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "bad_revenue"),
			wantErr: "pricing.revenue.plans.pro: markup_percent and rates are exclusive: give one\n" +
				"pricing.revenue.tenants.acme: needs markup_percent or rates",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "bad_format"),
			wantErr: `pricing.sources[0].format: unsupported format "litellm-v0" (supported: genai-prices, litellm, genaimeter)`,
		},
		{
			id:      component.NewIDWithName(metadata.Type, "no_path"),
			wantErr: `pricing.sources[0].path: must not be empty`,
		},
		{
			id: component.NewIDWithName(metadata.Type, "empty_tenant_keys"),
			wantErr: "attribution.tenant: must list at least one attribute key\n" +
				"attribution.user[1]: must not be empty",
		},
		{
			id: component.NewIDWithName(metadata.Type, "reported_cost"),
			want: func() *Config {
				cfg := createDefaultConfig().(*Config)
				cfg.Pricing.ReportedCost = ReportedCostConfig{Tolerance: "0.00005", TrustProviders: []string{"openrouter"}}
				return cfg
			}(),
		},
		{
			id: component.NewIDWithName(metadata.Type, "bad_reported_cost"),
			wantErr: "pricing.reported_cost.tolerance: must be >= 0, got \"-0.5\"\n" +
				"pricing.reported_cost.trust_providers[1]: must not be empty\n" +
				"pricing.reported_cost.trust_providers[2]: \"OpenRouter\" is already pricing.reported_cost.trust_providers[0]",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "bad_limits"),
			wantErr: "limits.max_token_count: must be between 1 and 2305843009213693952, got 0",
		},
		{
			id: component.NewIDWithName(metadata.Type, "bad_ancestors"),
			wantErr: "attribution.ancestors.wait: must be >= 0, got -1s\n" +
				"attribution.ancestors.max_pending_spans: must be >= 1, got 0\n" +
				"attribution.ancestors.max_remembered_spans: must be >= 1, got -3",
		},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
