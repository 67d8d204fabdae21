package genaicostprocessor

import (
	"path/filepath"
	"testing"

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
			},
		},
		{
			id:      component.NewIDWithName(metadata.Type, "bad_format"),
			wantErr: `pricing.sources[0].format: unsupported format "litellm-v0" (supported: genai-prices)`,
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
