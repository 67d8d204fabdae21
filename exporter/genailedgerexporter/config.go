package genailedgerexporter

import (
	"errors"
	"fmt"
	"go.opentelemetry.io/collector/component"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
)

// Config is the genai_ledger exporter configuration. One instance writes to
// exactly one sink: SQLite (the default), or one of postgres, kafka and file.
// Several sinks run side by side as named instances (genai_ledger,
// genai_ledger/postgres, genai_ledger/kafka...) in the same pipeline, each
// with its own queue and retries, so that a slow or broken sink never holds
// up or fails the others.
type Config struct {
	// SQLite is the embedded ledger database. It is the sink when postgres,
	// kafka and file are all absent; then sqlite.path is required (no
	// default, so that billing data never lands in an unplanned directory).
	SQLite SQLiteConfig `mapstructure:"sqlite"`
	// Postgres writes to a PostgreSQL database (absent by default).
	Postgres configoptional.Optional[PostgresConfig] `mapstructure:"postgres"`
	// Kafka produces one message per record to a Kafka topic (absent by default).
	Kafka configoptional.Optional[KafkaConfig] `mapstructure:"kafka"`
	// File appends JSON lines to rotated files (absent by default).
	File configoptional.Optional[FileConfig] `mapstructure:"file"`
	// DeadLetter is where records refused as bad data are written, with the
	// reason (absent by default: they are then only counted and logged).
	DeadLetter configoptional.Optional[DeadLetterConfig] `mapstructure:"dead_letter"`

	// Timeout bounds one write attempt (default 5s, exporterhelper's default).
	Timeout exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// QueueConfig is the sending queue (default: enabled, in memory, 1,000
	// requests, 10 consumers, with batching on: batches of at least 8,192
	// records or every 200ms, so that the stores commit big transactions).
	// storage: file_storage (an extension id) makes it survive a crash.
	QueueConfig configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`
	// RetryConfig retries failed writes (default: enabled, 5s initial
	// interval, 30s max interval, 5m max elapsed time). Replays are safe:
	// inserts are idempotent on the event id.
	RetryConfig configretry.BackOffConfig `mapstructure:"retry_on_failure"`
	// Balances names a genai_usage_service extension: the SQLite or
	// PostgreSQL sink then keeps its entitlement balances under that
	// extension's plans, in the transaction of every batch (absent: no
	// balances are kept by this exporter).
	Balances *component.ID `mapstructure:"balances"`

	// Prevent unkeyed literals.
	_ struct{}
}

// SQLiteConfig locates the ledger database.
type SQLiteConfig struct {
	// Path is the database file (no default). Its parent directory is created
	// if missing; WAL mode adds "<path>-wal" and "<path>-shm" beside it.
	Path string `mapstructure:"path"`
	// Synchronous is "normal" (default: a committed batch survives a crash of
	// the collector; the last batches may be lost on a power loss) or "full"
	// (an fsync per batch: it also survives a power loss).
	Synchronous string `mapstructure:"synchronous"`

	// Prevent unkeyed literals.
	_ struct{}
}

// PostgresConfig is a PostgreSQL connection.
type PostgresConfig struct {
	// Endpoint is the connection URL, postgres://USER@HOST:PORT/DATABASE (no
	// default). It carries neither the password (see Password) nor sslmode
	// (see TLS); other libpq URL parameters (application_name,
	// connect_timeout...) are passed on.
	Endpoint string `mapstructure:"endpoint"`
	// Password of the user (default: none, e.g. for trust or certificate
	// authentication). Kept out of logs and of the config dump.
	Password configopaque.String `mapstructure:"password"`
	// TLS of the connection (default: TLS on, server certificate verified
	// against the system roots). Set tls.insecure: true for a plain
	// connection, e.g. on loopback.
	TLS configtls.ClientConfig `mapstructure:"tls"`
	// MaxConns bounds the connection pool (default 4). Writes are batched:
	// a few connections keep up with the queue's consumers.
	MaxConns int32 `mapstructure:"max_conns"`

	// Prevent unkeyed literals.
	_ struct{}
}

// KafkaConfig is a Kafka producer.
type KafkaConfig struct {
	// Brokers are the seed brokers, host:port (no default).
	Brokers []string `mapstructure:"brokers"`
	// Topic receives one message per usage record (default "genaimeter.usage").
	Topic string `mapstructure:"topic"`
	// ClientID is the Kafka client id (default "genaimeter").
	ClientID string `mapstructure:"client_id"`
	// TLS of the broker connections (default: absent, plaintext).
	TLS configoptional.Optional[configtls.ClientConfig] `mapstructure:"tls"`
	// MaxMessageBytes is the largest record batch sent in one produce
	// request (default 1,000,000, Kafka's default message.max.bytes). A usage
	// record is about 1 KB, so a single record never comes near it.
	MaxMessageBytes int32 `mapstructure:"max_message_bytes"`

	// Prevent unkeyed literals.
	_ struct{}
}

// FileConfig is a JSON-lines file sink.
type FileConfig struct {
	// Path is the file being written (no default). A rotated file is renamed
	// beside it with its rotation time: usage.jsonl becomes
	// usage-20260304T050607.000000000Z.jsonl. Rotated files are never deleted.
	Path string `mapstructure:"path"`
	// MaxSizeMiB rotates the file before it would exceed this size (default
	// 100). 0 disables size rotation.
	MaxSizeMiB int `mapstructure:"max_size_mib"`
	// MaxAge rotates the file once it has been open this long (default 24h).
	// 0 disables time rotation.
	MaxAge time.Duration `mapstructure:"max_age"`

	// Prevent unkeyed literals.
	_ struct{}
}

// DeadLetterConfig is the file of refused records.
type DeadLetterConfig struct {
	// Path is the JSON-lines file refused records are appended to (no
	// default). Its parent directory is created if missing.
	Path string `mapstructure:"path"`

	// Prevent unkeyed literals.
	_ struct{}
}

var _ confmap.Validator = (*Config)(nil)

// Sink names, also the values of the telemetry attribute "sink".
const (
	sinkSQLite   = "sqlite"
	sinkPostgres = "postgres"
	sinkKafka    = "kafka"
	sinkFile     = "file"
)

// sinkName is the sink an instance writes to (see Config).
func (c *Config) sinkName() string {
	switch {
	case c.Postgres.HasValue():
		return sinkPostgres
	case c.Kafka.HasValue():
		return sinkKafka
	case c.File.HasValue():
		return sinkFile
	}
	return sinkSQLite
}

// Validate checks the configuration without touching the file system or the
// network.
func (c *Config) Validate() error {
	var errs error
	var others []string
	if c.Postgres.HasValue() {
		others = append(others, sinkPostgres)
		errs = errors.Join(errs, c.Postgres.Get().validate())
	}
	if c.Kafka.HasValue() {
		others = append(others, sinkKafka)
		errs = errors.Join(errs, c.Kafka.Get().validate())
	}
	if c.File.HasValue() {
		others = append(others, sinkFile)
		errs = errors.Join(errs, c.File.Get().validate())
	}
	if len(others) > 1 {
		errs = errors.Join(errs, fmt.Errorf("%s: configure one sink per genai_ledger instance, got %d; "+
			"run one instance per sink side by side (genai_ledger/%s, genai_ledger/%s)",
			strings.Join(others, ", "), len(others), others[0], others[1]))
	}
	if len(others) > 0 && c.SQLite.Path != "" {
		errs = errors.Join(errs, fmt.Errorf("sqlite.path: must be empty when %s is configured (one sink per genai_ledger instance), got %q",
			others[0], c.SQLite.Path))
	}
	if len(others) == 0 {
		errs = errors.Join(errs, validateSQLitePath(c.SQLite.Path))
	}
	switch s := sqlitestore.Synchronous(c.SQLite.Synchronous); s {
	case "", sqlitestore.SynchronousNormal, sqlitestore.SynchronousFull:
	default:
		errs = errors.Join(errs, fmt.Errorf("sqlite.synchronous: must be %q or %q, got %q",
			sqlitestore.SynchronousNormal, sqlitestore.SynchronousFull, s))
	}
	if c.DeadLetter.HasValue() && strings.TrimSpace(c.DeadLetter.Get().Path) == "" {
		errs = errors.Join(errs, errors.New("dead_letter.path: must not be empty"))
	}
	if c.Balances != nil && (c.Kafka.HasValue() || c.File.HasValue()) {
		errs = errors.Join(errs, fmt.Errorf("balances: only the sqlite and postgres sinks keep balances, got sink %s", c.sinkName()))
	}
	return errs
}

func validateSQLitePath(p string) error {
	switch {
	case strings.TrimSpace(p) == "":
		return errors.New("sqlite.path: must not be empty")
	case p == ":memory:" || strings.HasPrefix(p, "file:"):
		// One in-memory database per pooled connection, lost on exit; and a
		// "file:" URI would bypass the DSN parameters (WAL, busy_timeout).
		return fmt.Errorf("sqlite.path: must be a file path, got %q", p)
	case strings.Contains(p, "?"):
		// The driver reads "?" as the start of its own DSN parameters.
		return fmt.Errorf("sqlite.path: must not contain '?', got %q", p)
	}
	return nil
}

func (c *PostgresConfig) validate() error {
	var errs error
	if strings.TrimSpace(c.Endpoint) == "" {
		errs = errors.Join(errs, errors.New("postgres.endpoint: must not be empty"))
	} else if u, err := url.Parse(c.Endpoint); err != nil {
		// url.Parse quotes the whole input, which could hold a password.
		errs = errors.Join(errs, errors.New("postgres.endpoint: must be a URL postgres://USER@HOST:PORT/DATABASE"))
	} else {
		switch {
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			errs = errors.Join(errs, fmt.Errorf("postgres.endpoint: scheme must be postgres or postgresql, got %q", u.Scheme))
		case u.Host == "":
			errs = errors.Join(errs, errors.New("postgres.endpoint: must name a host"))
		}
		if _, set := u.User.Password(); set {
			errs = errors.Join(errs, errors.New("postgres.endpoint: must not contain a password; use postgres.password"))
		}
		q := u.Query()
		for _, p := range [][2]string{{"password", "password"}, {"sslmode", "tls"}, {"sslrootcert", "tls"}, {"sslcert", "tls"}, {"sslkey", "tls"}} {
			if q.Has(p[0]) {
				errs = errors.Join(errs, fmt.Errorf("postgres.endpoint: must not set %s; use postgres.%s", p[0], p[1]))
			}
		}
	}
	if c.MaxConns < 1 {
		errs = errors.Join(errs, fmt.Errorf("postgres.max_conns: must be >= 1, got %d", c.MaxConns))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = errors.Join(errs, fmt.Errorf("postgres.tls: %w", err))
	}
	return errs
}

func (c *KafkaConfig) validate() error {
	var errs error
	if len(c.Brokers) == 0 {
		errs = errors.Join(errs, errors.New("kafka.brokers: must not be empty"))
	}
	for i, b := range c.Brokers {
		if strings.TrimSpace(b) == "" || strings.Contains(b, "://") {
			errs = errors.Join(errs, fmt.Errorf("kafka.brokers[%d]: must be host:port, got %q", i, b))
		}
	}
	if strings.TrimSpace(c.Topic) == "" {
		errs = errors.Join(errs, errors.New("kafka.topic: must not be empty"))
	}
	if c.MaxMessageBytes < 2048 {
		errs = errors.Join(errs, fmt.Errorf("kafka.max_message_bytes: must be >= 2048, got %d", c.MaxMessageBytes))
	}
	if c.TLS.HasValue() {
		if err := c.TLS.Get().Validate(); err != nil {
			errs = errors.Join(errs, fmt.Errorf("kafka.tls: %w", err))
		}
	}
	return errs
}

func (c *FileConfig) validate() error {
	var errs error
	if strings.TrimSpace(c.Path) == "" {
		errs = errors.Join(errs, errors.New("file.path: must not be empty"))
	}
	if c.MaxSizeMiB < 0 {
		errs = errors.Join(errs, fmt.Errorf("file.max_size_mib: must be >= 0, got %d", c.MaxSizeMiB))
	}
	if c.MaxAge < 0 {
		errs = errors.Join(errs, fmt.Errorf("file.max_age: must be >= 0, got %s", c.MaxAge))
	}
	return errs
}
