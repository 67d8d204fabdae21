package genailedgerexporter

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
)

// NewFactory returns the factory of the genai_ledger exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	q := exporterhelper.NewDefaultQueueConfig()
	// Batching is off by default in exporterhelper; the ledger wants it on:
	// one SQLite transaction (one fsync) per large batch instead of per request.
	q.Batch = configoptional.Some(exporterhelper.NewDefaultBatchConfig())
	return &Config{
		Timeout:     exporterhelper.NewDefaultTimeoutConfig(),
		QueueConfig: configoptional.Some(q),
		RetryConfig: configretry.NewDefaultBackOffConfig(),
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
