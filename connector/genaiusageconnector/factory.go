package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
)

// NewFactory returns the factory of the genai_usage connector.
func NewFactory() connector.Factory {
	return connector.NewFactory(metadata.Type, createDefaultConfig,
		connector.WithTracesToLogs(createTracesToLogs, metadata.TracesToLogsStability))
}

func createDefaultConfig() component.Config { return &Config{} }

func createTracesToLogs(_ context.Context, set connector.Settings, cfg component.Config, next consumer.Logs) (connector.Traces, error) {
	return newLogsConnector(set, cfg.(*Config), next)
}
