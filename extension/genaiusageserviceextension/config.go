package genaiusageserviceextension

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/confighttp"
)

// Config of the genai_usage_service extension.
type Config struct {
	// Plans is the plans file (native YAML; see package entitlement).
	// Required. It is reloaded when it changes; a broken edit keeps the last
	// good plans and is logged with its line and column.
	Plans string `mapstructure:"plans"`
	// ReloadInterval is how often the plans file is checked (default 10s; 0
	// loads it once).
	ReloadInterval time.Duration `mapstructure:"reload_interval"`
	// SQLite is the ledger file the genai_ledger exporter writes (give it
	// or postgres).
	SQLite SQLiteConfig `mapstructure:"sqlite"`
	// Postgres is a PostgreSQL ledger shared by several collectors.
	Postgres PostgresConfig `mapstructure:"postgres"`
	// HTTP is the API's server: endpoint (default 127.0.0.1:8790), TLS and
	// the other confighttp server settings.
	HTTP confighttp.ServerConfig `mapstructure:"http"`
	// RateLimit is each API key's token bucket.
	RateLimit RateLimitConfig `mapstructure:"rate_limit"`

	_ struct{}
}

// SQLiteConfig locates a SQLite ledger.
type SQLiteConfig struct {
	Path string `mapstructure:"path"`
}

// PostgresConfig locates a PostgreSQL ledger.
type PostgresConfig struct {
	// Endpoint is a postgres:// URL (TLS with sslmode=verify-full and
	// sslrootcert in the URL).
	Endpoint string `mapstructure:"endpoint"`
}

// RateLimitConfig sizes each key's token bucket.
type RateLimitConfig struct {
	// PerSecond is the sustained rate (default 50).
	PerSecond float64 `mapstructure:"per_second"`
	// Burst is the bucket's size (default 100).
	Burst int `mapstructure:"burst"`
}

// Validate checks the configuration without touching files or the network.
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.Plans) == "" {
		errs = append(errs, errors.New("plans: required (the plans file)"))
	}
	sqlite, pg := strings.TrimSpace(c.SQLite.Path) != "", strings.TrimSpace(c.Postgres.Endpoint) != ""
	switch {
	case sqlite && pg:
		errs = append(errs, errors.New("sqlite.path and postgres.endpoint are exclusive: give the one ledger the service reads"))
	case !sqlite && !pg:
		errs = append(errs, errors.New("sqlite.path or postgres.endpoint: one is required (the ledger the service reads)"))
	}
	if pg && !strings.HasPrefix(c.Postgres.Endpoint, "postgres://") && !strings.HasPrefix(c.Postgres.Endpoint, "postgresql://") {
		errs = append(errs, fmt.Errorf("postgres.endpoint: want a postgres:// URL, got %q", c.Postgres.Endpoint))
	}
	if c.ReloadInterval < 0 {
		errs = append(errs, fmt.Errorf("reload_interval: must be >= 0, got %s", c.ReloadInterval))
	}
	if c.RateLimit.PerSecond <= 0 {
		errs = append(errs, fmt.Errorf("rate_limit.per_second: must be > 0, got %v", c.RateLimit.PerSecond))
	}
	if c.RateLimit.Burst < 1 {
		errs = append(errs, fmt.Errorf("rate_limit.burst: must be >= 1, got %d", c.RateLimit.Burst))
	}
	if strings.TrimSpace(c.HTTP.NetAddr.Endpoint) == "" {
		errs = append(errs, errors.New("http.endpoint: required"))
	}
	return errors.Join(errs...)
}
