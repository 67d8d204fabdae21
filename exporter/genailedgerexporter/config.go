package genailedgerexporter

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
)

// Config is the genai_ledger exporter configuration.
type Config struct {
	// SQLite is the ledger database. Required: sqlite.path has no default, so
	// that billing data never lands in an unplanned working directory.
	SQLite SQLiteConfig `mapstructure:"sqlite"`

	// Timeout bounds one write attempt (default 5s, exporterhelper's default).
	Timeout exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueConfig is the sending queue (default: enabled, in memory, 1,000
	// requests, 10 consumers, with batching on: batches of at least 8,192
	// records or every 200ms, so that SQLite commits big transactions).
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig retries failed writes (default: enabled, 5s initial
	// interval, 30s max interval, 5m max elapsed time). Replays are safe:
	// inserts are idempotent on the event id.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`

	// Prevent unkeyed literals.
	_ struct{}
}

// SQLiteConfig locates the ledger database.
type SQLiteConfig struct {
	// Path is the database file (no default). Its parent directory is created
	// if missing; WAL mode adds "<path>-wal" and "<path>-shm" beside it.
	Path string `mapstructure:"path"`

	// Prevent unkeyed literals.
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration without touching the file system.
func (c *Config) Validate() error {
	var errs error
	switch p := c.SQLite.Path; {
	case strings.TrimSpace(p) == "":
		errs = errors.Join(errs, errors.New("sqlite.path: must not be empty"))
	case p == ":memory:" || strings.HasPrefix(p, "file:"):
		// One in-memory database per pooled connection, lost on exit; and a
		// "file:" URI would bypass the DSN parameters (WAL, busy_timeout).
		errs = errors.Join(errs, fmt.Errorf("sqlite.path: must be a file path, got %q", p))
	case strings.Contains(p, "?"):
		// The driver reads "?" as the start of its own DSN parameters.
		errs = errors.Join(errs, fmt.Errorf("sqlite.path: must not contain '?', got %q", p))
	}
	return errs
}
