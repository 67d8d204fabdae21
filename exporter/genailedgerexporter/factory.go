package genailedgerexporter

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
)

// NewFactory returns the factory of the genai_ledger exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

// Defaults of the sink sections (they apply once a section is present).
const (
	defaultPostgresMaxConns     = 4
	defaultKafkaTopic           = "genaimeter.usage"
	defaultKafkaClientID        = "genaimeter"
	defaultKafkaMaxMessageBytes = 1_000_000
	defaultFileMaxSizeMiB       = 100
	defaultFileMaxAge           = 24 * time.Hour
)

func createDefaultConfig() component.Config {
	q := exporterhelper.NewDefaultQueueConfig()
	// Batching is off by default in exporterhelper; the ledger wants it on:
	// one SQLite transaction (one fsync) per large batch instead of per request.
	q.Batch = configoptional.Some(exporterhelper.NewDefaultBatchConfig())
	// Retry until the store answers: exporterhelper drops a batch when
	// max_elapsed_time runs out, and a ledger must not lose records to a long
	// database outage. Writes are idempotent, so retrying is always safe.
	retry := configretry.NewDefaultBackOffConfig()
	retry.MaxElapsedTime = 0
	return &Config{
		SQLite:      SQLiteConfig{Synchronous: string(sqlitestore.SynchronousNormal)},
		Postgres:    configoptional.Default(PostgresConfig{MaxConns: defaultPostgresMaxConns}),
		Kafka:       configoptional.Default(KafkaConfig{Topic: defaultKafkaTopic, ClientID: defaultKafkaClientID, MaxMessageBytes: defaultKafkaMaxMessageBytes}),
		File:        configoptional.Default(FileConfig{MaxSizeMiB: defaultFileMaxSizeMiB, MaxAge: defaultFileMaxAge}),
		Timeout:     exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig: configoptional.Some(q),
		RetryConfig: retry,
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	// Copy: the config may be shared with other pipelines and must not change.
	c := *cfg.(*Config)
	e := newLedgerExporter(&c, set)
	return exporterhelper.NewLogs(ctx, set, &c, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		exporterhelper.WithTimeout(c.Timeout),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		// The exporter only reads the logs.
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	)
}
