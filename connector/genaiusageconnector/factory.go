package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
)

const (
	// An exporter's retries and a replayed batch arrive within minutes.
	defaultDedupeWindow     = 10 * time.Minute
	defaultDedupeMaxEntries = 100_000
	// spanmetrics' default.
	defaultFlushInterval = 15 * time.Second
	// The SDK's default cardinality limit.
	defaultCardinalityLimit = 2000
	// No single tenant can take more than a tenth of the default budget.
	defaultCardinalityLimitPerTenant = 200
	// A tenant or model idle for an hour frees its slot, so a burst of new
	// tenants is folded into overflow for at most an hour, not until a
	// restart; a series called at least hourly never resets, so the usual
	// rate windows (5m, 1h) rarely straddle a reset.
	defaultSeriesExpiration = time.Hour
)

// NewFactory returns the factory of the genai_usage connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithTracesToLogs(createTracesToLogs, metadata.TracesToLogsStability),
		connector.WithTracesToMetrics(createTracesToMetrics, metadata.TracesToMetricsStability))
}

func createDefaultConfig() component.Config {
	return &Config{
		Dedupe: DedupeConfig{Window: defaultDedupeWindow, MaxEntries: defaultDedupeMaxEntries},
		Metrics: MetricsConfig{
			FlushInterval:             defaultFlushInterval,
			Temporality:               temporalityCumulative,
			CardinalityLimit:          defaultCardinalityLimit,
			CardinalityLimitPerTenant: defaultCardinalityLimitPerTenant,
			SeriesExpiration:          defaultSeriesExpiration,
			Exemplars:                 ExemplarsConfig{Enabled: true},
		},
	}
}

func createTracesToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Traces, error) {
	return newLogsConnector(set, cfg.(*Config), next, time.Now)
}

func createTracesToMetrics(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Metrics) (connector.Traces, error) {
	return newMetricsConnector(set, cfg.(*Config), next, time.Now, systemTicker)
}
