package genailedgerexporter

import (
	"fmt"
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
	assert.Zero(t, cfg.RetryConfig.MaxElapsedTime, "a ledger retries until the store answers")
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

	pg := createDefaultConfig().(*Config)
	pgc := pg.Postgres.GetOrInsertDefault()
	pgc.Endpoint = "postgres://genaimeter@db.internal:5432/billing?application_name=genaimeter"
	pgc.Password = "s3cret"
	pgc.TLS.CAFile = "/etc/ssl/db-ca.pem"
	pg.DeadLetter.GetOrInsertDefault().Path = "/var/lib/genaimeter/dead-letter.jsonl"

	kafka := createDefaultConfig().(*Config)
	kafka.Kafka.GetOrInsertDefault().Brokers = []string{"kafka-1:9092", "kafka-2:9092"}

	file := createDefaultConfig().(*Config)
	fc := file.File.GetOrInsertDefault()
	fc.Path = "/var/lib/genaimeter/usage.jsonl"
	fc.MaxAge = time.Hour
	file.SQLite.Synchronous = "full"

	withBalances := createDefaultConfig().(*Config)
	withBalances.SQLite.Path = "./data/usage.db"
	usageService := component.MustNewID("genai_usage_service")
	withBalances.Balances = &usageService

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
		{id: component.NewIDWithName(metadata.Type, "postgres"), want: pg},
		{id: component.NewIDWithName(metadata.Type, "kafka"), want: kafka},
		{id: component.NewIDWithName(metadata.Type, "file"), want: file},
		{id: component.NewIDWithName(metadata.Type, "two_sinks"), wantErr: "postgres, kafka: configure one sink per genai_ledger instance, got 2; " +
			"run one instance per sink side by side (genai_ledger/postgres, genai_ledger/kafka)"},
		{id: component.NewIDWithName(metadata.Type, "sqlite_and_file"), wantErr: `sqlite.path: must be empty when file is configured (one sink per genai_ledger instance), got "./data/usage.db"`},
		{id: component.NewIDWithName(metadata.Type, "bad_postgres"), wantErr: `postgres.endpoint: scheme must be postgres or postgresql, got "mysql"` + "\n" +
			"postgres.endpoint: must not contain a password; use postgres.password\n" +
			"postgres.endpoint: must not set sslmode; use postgres.tls\n" +
			"postgres.max_conns: must be >= 1, got 0"},
		{id: component.NewIDWithName(metadata.Type, "bad_kafka"), wantErr: `kafka.brokers[0]: must be host:port, got ""` + "\n" +
			`kafka.brokers[1]: must be host:port, got "http://kafka:9092"` + "\n" +
			"kafka.topic: must not be empty\n" +
			"kafka.max_message_bytes: must be >= 2048, got 100"},
		{id: component.NewIDWithName(metadata.Type, "bad_file"), wantErr: "file.path: must not be empty\n" +
			"file.max_size_mib: must be >= 0, got -1\n" +
			"file.max_age: must be >= 0, got -1s"},
		{id: component.NewIDWithName(metadata.Type, "balances"), want: withBalances},
		{id: component.NewIDWithName(metadata.Type, "balances_kafka"), wantErr: "balances: only the sqlite and postgres sinks keep balances, got sink kafka"},
		{id: component.NewIDWithName(metadata.Type, "bad_sqlite"), wantErr: `sqlite.synchronous: must be "normal" or "full", got "off"` + "\n" +
			"dead_letter.path: must not be empty"},
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

// The password never shows in the config's string form (configopaque).
func TestPostgresPasswordIsOpaque(t *testing.T) {
	c := PostgresConfig{Password: "s3cret"}
	assert.Equal(t, "[REDACTED]", c.Password.String())
	assert.NotContains(t, fmt.Sprintf("%v %+v", c, c), "s3cret")
}

func TestValidateDoesNotMutate(t *testing.T) {
	cfg := &Config{SQLite: SQLiteConfig{Path: ""}}
	before := *cfg
	_ = cfg.Validate()
	assert.Equal(t, before, *cfg)
}
