package genailedgerexporter

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// recordSink is one store of usage records. The exporter decodes and validates a
// batch, hands the good records to its sink's Write, and does the error
// handling common to all sinks (dead letters, telemetry, retries).
type recordSink interface {
	// Start opens the store (connections, files, schema migrations). Its
	// failure fails the collector's start: a ledger that cannot be written
	// must not look healthy.
	Start(ctx context.Context, host component.Host) error
	// Write stores recs. With a nil error, every record is stored (or was
	// already: Written+Duplicates == len(recs)-len(Rejected)), except those
	// in Rejected, which the store refused as bad data. A non-nil error means
	// the batch is not (or not known to be) stored; it is permanent
	// (consumererror.IsPermanent) when retrying the same records cannot help
	// — then the exporter splits the batch to find the bad records — and
	// retryable otherwise. Writing the same records again is always safe.
	Write(ctx context.Context, recs []usage.Record) (writeResult, error)
	// Shutdown closes the store. It is nil-safe and idempotent.
	Shutdown(ctx context.Context) error
}

// writeResult is what a successful Write did.
type writeResult struct {
	// Written counts the records stored (or sent) by this call.
	Written int
	// Duplicates counts the records the store already had (replays) or that
	// were repeated in the batch. Only the database sinks detect them; Kafka
	// and file consumers deduplicate on the event id.
	Duplicates int
	// Rejected are the records the store refused as bad data.
	Rejected []rejectedRecord
}

// rejectedRecord is a record a store refused: Index is its position in the
// slice given to Write.
type rejectedRecord struct {
	Index int
	Err   error
}

func newSink(cfg *Config) recordSink {
	switch cfg.sinkName() {
	case sinkPostgres:
		return &postgresSink{cfg: cfg.Postgres.Get(), balances: cfg.Balances}
	case sinkKafka:
		return &kafkaSink{cfg: cfg.Kafka.Get()}
	case sinkFile:
		return &fileSink{cfg: cfg.File.Get()}
	}
	return &sqliteSink{cfg: &cfg.SQLite, balances: cfg.Balances}
}

// sqliteSink writes to the embedded SQLite ledger.
type sqliteSink struct {
	cfg      *SQLiteConfig
	balances *component.ID
	store    *sqlitestore.Store
}

func (s *sqliteSink) Start(ctx context.Context, host component.Host) error {
	st, err := sqlitestore.OpenWithOptions(s.cfg.Path, sqlitestore.Options{Synchronous: sqlitestore.Synchronous(s.cfg.Synchronous)})
	if err != nil {
		return err
	}
	if err := st.Migrate(ctx); err != nil {
		_ = st.Close()
		return err
	}
	if s.balances != nil {
		plans, err := balancesPlans(host, *s.balances)
		if err == nil {
			_, err = balances.ForSQLite(st, plans, true).CatchUp(ctx)
		}
		if err != nil {
			_ = st.Close()
			return err
		}
	}
	s.store = st
	return nil
}

func (s *sqliteSink) Write(ctx context.Context, recs []usage.Record) (writeResult, error) {
	// The exporter has validated every record (pushLogs): not again.
	ins, dup, err := s.store.InsertValidated(ctx, recs)
	switch {
	case err == nil:
		return writeResult{Written: ins, Duplicates: dup}, nil
	case errors.Is(err, usage.ErrInvalidRecord):
		// Unreachable while the exporter filters with usage.ValidateRecord; a
		// retry would fail the same way.
		return writeResult{}, consumererror.NewPermanent(err)
	case sqlitestore.IsTransient(err):
		return writeResult{}, fmt.Errorf("genai_ledger: database busy, will retry: %w", err)
	}
	return writeResult{}, err
}

func (s *sqliteSink) Shutdown(context.Context) error {
	err := s.store.Close()
	s.store = nil
	return err
}
