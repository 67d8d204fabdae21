package genaialertsreceiver

import (
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
)

// Config of the genai_alerts receiver.
type Config struct {
	// Service names the genai_usage_service extension whose ledger holds
	// the alerts. Required.
	Service component.ID `mapstructure:"service"`
	// Interval is how often the ledger is checked (default 1s).
	Interval time.Duration `mapstructure:"interval"`

	_ struct{}
}

// Validate checks the configuration without touching the ledger.
func (c *Config) Validate() error {
	if c.Service.String() == "" || c.Service.Type().String() == "" {
		return fmt.Errorf("service: required (the genai_usage_service extension), got %q", c.Service.String())
	}
	if c.Interval <= 0 {
		return fmt.Errorf("interval: must be > 0, got %s", c.Interval)
	}
	return nil
}
