package genaiusageserviceextension

import (
	"context"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension"

	"github.com/genaimeter/genaimeter/extension/genaiusageserviceextension/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/usageservice"
)

// NewFactory returns the factory of the genai_usage_service extension.
func NewFactory() extension.Factory {
	return extension.NewFactory(metadata.Type, createDefaultConfig, create, metadata.ExtensionStability)
}

func createDefaultConfig() component.Config {
	return &Config{
		ReloadInterval: 10 * time.Second,
		HTTP:           usageservice.DefaultHTTP(),
		RateLimit:      RateLimitConfig{PerSecond: 50, Burst: 100},
		Alerts: AlertsConfig{
			Interval: 2 * time.Second,
			Webhook:  WebhookConfig{MaxAttempts: 8, InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute, Timeout: 10 * time.Second},
		},
	}
}

func create(_ context.Context, set extension.Settings, cfg component.Config) (extension.Extension, error) {
	return newService(cfg.(*Config), set), nil
}
