package genaiusageconnector

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
)

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	unknown := "unknown"
	noDedupe := createDefaultConfig().(*Config)
	noDedupe.Dedupe = DedupeConfig{}
	// The documented default: an hour idle frees a series' slot.
	assert.Equal(t, time.Hour, createDefaultConfig().(*Config).Metrics.SeriesExpiration)
	noExpiration := createDefaultConfig().(*Config)
	noExpiration.Metrics.SeriesExpiration = 0

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: createDefaultConfig().(*Config)},
		{
			id: component.NewIDWithName(metadata.Type, "custom"),
			want: &Config{
				Dedupe: DedupeConfig{Window: time.Minute, MaxEntries: 500},
				Metrics: MetricsConfig{
					FlushInterval:             5 * time.Second,
					Temporality:               "delta",
					CardinalityLimit:          500,
					CardinalityLimitPerTenant: 50,
					SeriesExpiration:          30 * time.Minute,
					ExcludeDimensions:         []string{"plan", "feature"},
					Dimensions:                []Dimension{{Name: "deployment.environment.name", Default: &unknown}, {Name: "genaimeter.user_id"}},
					Exemplars:                 ExemplarsConfig{Enabled: false},
				},
			},
		},
		{id: component.NewIDWithName(metadata.Type, "no_dedupe"), want: noDedupe},
		{
			id:      component.NewIDWithName(metadata.Type, "bad_dedupe"),
			wantErr: "dedupe.window: must be >= 0, got -1s",
		},
		{
			id: component.NewIDWithName(metadata.Type, "bad_metrics"),
			wantErr: "metrics.flush_interval: must be > 0, got 0s\n" +
				`metrics.temporality: must be "cumulative" or "delta", got "monthly"` + "\n" +
				"metrics.cardinality_limit: must be >= 2, got 1\n" +
				"metrics.cardinality_limit_per_tenant: must be >= 0, got -2\n" +
				"metrics.series_expiration: must be >= 0, got -1s",
		},
		{
			id:      component.NewIDWithName(metadata.Type, "short_expiration"),
			wantErr: "metrics.series_expiration: must be 0 or >= metrics.flush_interval (15s), got 10s",
		},
		{id: component.NewIDWithName(metadata.Type, "no_expiration"), want: noExpiration},
		{
			id: component.NewIDWithName(metadata.Type, "bad_dimensions"),
			wantErr: `metrics.exclude_dimensions[1]: unknown built-in dimension "region" (built-in: [tenant_id provider model operation feature billable pricing_status plan])` + "\n" +
				"metrics.cardinality_limit_per_tenant: needs the tenant_id dimension, which metrics.exclude_dimensions removes (set it to 0)\n" +
				"metrics.dimensions[0].name: must not be empty\n" +
				`metrics.dimensions[1].name: "otel.metric.overflow" is reserved for overflow series` + "\n" +
				`metrics.dimensions[2].name: "model" is a built-in dimension` + "\n" +
				`metrics.dimensions[5].name: "region" is listed twice`,
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
				assert.Equal(t, tt.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}
