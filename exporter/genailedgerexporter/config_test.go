package genailedgerexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
)

func TestCreateDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	q := exporterhelper.NewDefaultQueueConfig()
	q.Batch = configoptional.Some(exporterhelper.NewDefaultBatchConfig())
	assert.True(t, cfg.QueueConfig.HasValue(), "queue on by default")
	assert.True(t, cfg.QueueConfig.Get().Batch.HasValue(), "batching on by default")
	assert.Equal(t, q, *cfg.QueueConfig.Get())
	assert.Equal(t, 5*time.Second, cfg.Timeout.Timeout)
	assert.True(t, cfg.RetryConfig.Enabled)
	// No default path: the default config alone is not runnable.
	assert.EqualError(t, confmap.Validate(cfg), "sqlite.path: must not be empty")
}

func TestLoadConfig(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)

	full := createDefaultConfig().(*Config)
	full.SQLite.Path = "/var/lib/genaimeter/usage.db"
	full.Timeout.Timeout = 10 * time.Second
	q := full.QueueConfig.Get()
	q.NumConsumers = 2
	q.QueueSize = 100
	b := q.Batch.Get()
	b.FlushTimeout = time.Second
	b.MinSize = 100
	full.RetryConfig.Enabled = false

	minimal := createDefaultConfig().(*Config)
	minimal.SQLite.Path = "./data/usage.db"

	tests := []struct {
		id      component.ID
		want    *Config
		wantErr string
	}{
		{id: component.NewID(metadata.Type), want: minimal},
		{id: component.NewIDWithName(metadata.Type, "full"), want: full},
		{id: component.NewIDWithName(metadata.Type, "no_sqlite"), wantErr: "sqlite.path: must not be empty"},
		{id: component.NewIDWithName(metadata.Type, "empty_path"), wantErr: "sqlite.path: must not be empty"},
		{id: component.NewIDWithName(metadata.Type, "memory"), wantErr: `sqlite.path: must be a file path, got ":memory:"`},
		{id: component.NewIDWithName(metadata.Type, "uri"), wantErr: `sqlite.path: must be a file path, got "file:usage.db"`},
		{id: component.NewIDWithName(metadata.Type, "query"), wantErr: `sqlite.path: must not contain '?', got "usage.db?mode=ro"`},
	}
	for _, tt := range tests {
		t.Run(tt.id.String(), func(t *testing.T) {
			cfg := createDefaultConfig()
			sub, err := cm.Sub(tt.id.String())
			require.NoError(t, err)
			require.NoError(t, sub.Unmarshal(cfg))
			err = confmap.Validate(cfg)
			if tt.wantErr != "" {
				assert.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg)
		})
	}
}

func TestValidateDoesNotMutate(t *testing.T) {
	cfg := &Config{SQLite: SQLiteConfig{Path: ""}}
	before := *cfg
	_ = cfg.Validate()
	assert.Equal(t, before, *cfg)
}
