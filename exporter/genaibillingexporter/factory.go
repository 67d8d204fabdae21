package genaibillingexporter

import (
	"context"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/genaimeter/genaimeter/exporter/genaibillingexporter/internal/metadata"
)

// Defaults.
const (
	defaultHTTPTimeout           = 30 * time.Second
	defaultReloadInterval        = 10 * time.Second
	defaultMaxConcurrentRequests = 4
)

// NewFactory returns the factory of the genai_billing exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(metadata.Type, createDefaultConfig,
		exporter.WithLogs(createLogs, metadata.LogsStability))
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	client.Timeout = defaultHTTPTimeout
	q := exporterhelper.NewDefaultQueueConfig()
	q.Batch = configoptional.Some(exporterhelper.NewDefaultBatchConfig())
	retry := configretry.NewDefaultBackOffConfig()
	// Giving up would drop records that were never billed: retry until the
	// backend answers (2xx, or a 4xx that dead-letters the event).
	retry.MaxElapsedTime = 0
	return &Config{
		ClientConfig:          client,
		Conditions:            []string{defaultCondition},
		ErrorMode:             ottl.PropagateError,
		Customers:             CustomersConfig{ReloadInterval: defaultReloadInterval},
		MaxConcurrentRequests: defaultMaxConcurrentRequests,
		QueueConfig:           configoptional.Some(q),
		RetryConfig:           retry,
	}
}

func createLogs(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	// Copy: the config may be shared with other pipelines and must not change.
	c := *cfg.(*Config)
	e, err := newBillingExporter(&c, set, time.Now)
	if err != nil {
		return nil, err
	}
	return exporterhelper.NewLogs(ctx, set, &c, e.pushLogs,
		exporterhelper.WithStart(e.start),
		exporterhelper.WithShutdown(e.shutdown),
		// Each HTTP request is bounded by the client's timeout; an export of
		// a large batch makes many requests and must not be cut as a whole.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithQueue(c.QueueConfig),
		exporterhelper.WithRetry(c.RetryConfig),
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
	)
}
