package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import "go.opentelemetry.io/collector/confmap"

// Config is the configuration of the genai_usage connector. It has no settings
// yet: every metered call becomes exactly one record.
type Config struct {
	// prevent unkeyed literal initialization
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration.
func (*Config) Validate() error { return nil }
