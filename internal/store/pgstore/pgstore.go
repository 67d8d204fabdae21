// Package pgstore is the PostgreSQL usage ledger: the same table as
// sqlitestore, with PostgreSQL types (timestamptz, bigint, numeric, boolean),
// for deployments where several collectors write to one shared database.
//
// Guarantees (as sqlitestore):
//   - A record is stored at most once: event_id is the primary key and a batch
//     is COPYed into a temporary staging table, then moved with INSERT ...
//     SELECT ... ON CONFLICT (event_id) DO NOTHING. The first stored version
//     of an event wins.
//   - A batch is one transaction: all of its new records or none.
//   - Money is numeric (exact decimal), written from the record's decimal
//     text: SUM(cost_usd) in SQL is exact.
//   - Times are truncated to the microsecond (PostgreSQL's resolution) in Go:
//     PostgreSQL itself would round, which could move a call at
//     23:59:59.9999996 into the next billing period.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// SchemaVersion is the version Migrate brings a database to: len(migrations).
const SchemaVersion = 8

// migrations[i] takes the schema from version i to version i+1. Append only.
// Version 1 is sqlitestore's version 2 in PostgreSQL types.
var migrations = []string{
	`CREATE TABLE usage_records (
		event_id           text        NOT NULL PRIMARY KEY,
		time               timestamptz NOT NULL,
		tenant_id          text,
		user_id            text,
		session_id         text,
		feature            text,
		service_name       text,
		environment        text,
		provider           text,
		operation          text,
		request_model      text,
		response_model     text,
		catalog_provider   text,
		catalog_model      text,
		input_tokens       bigint      NOT NULL,
		output_tokens      bigint      NOT NULL,
		cache_read_tokens  bigint      NOT NULL,
		cache_write_tokens bigint      NOT NULL,
		reasoning_tokens   bigint      NOT NULL,
		cost_usd           numeric,
		reported_cost_usd  numeric,
		token_convention   text,
		pricing_status     text        NOT NULL,
		pricing_detail     text,
		billable           boolean     NOT NULL,
		billable_reason    text,
		trace_id           text,
		span_id            text,
		plan               text,
		revenue_usd        numeric,
		price_ref          text,
		service_tier       text
	);
	CREATE INDEX usage_records_tenant_time ON usage_records (tenant_id, time);
	CREATE INDEX usage_records_time ON usage_records (time);`,
	// 2 (sqlitestore's 3): audio and 1h cache-write tokens, completion, cost
	// reconciliation and the cost's source. Rows written before have 0 audio
	// and 1h tokens, which is what their price assumed.
	`ALTER TABLE usage_records
		ADD COLUMN input_audio_tokens    bigint NOT NULL DEFAULT 0,
		ADD COLUMN output_audio_tokens   bigint NOT NULL DEFAULT 0,
		ADD COLUMN cache_write_1h_tokens bigint NOT NULL DEFAULT 0,
		ADD COLUMN completion            text,
		ADD COLUMN cost_reconciliation   text,
		ADD COLUMN cost_source           text;`,
	// 3: the ledger sequence (insertion order, for balances) and the
	// entitlement tables; see entitlementSchema.
	entitlementSchema,
	// 4: alerts; see alertsSchema.
	alertsSchema,
	// 5: the alerts' log outbox (sqlitestore's 6).
	`ALTER TABLE genaimeter_alerts ADD COLUMN logged_at bigint NOT NULL DEFAULT 0;
	ALTER TABLE genaimeter_alerts ADD COLUMN log_claimed_until bigint NOT NULL DEFAULT 0;`,
	// 6 (sqlitestore's 7): no (tenant_id, time) index, spend rollups
	// instead; see rollupSchema.
	rollupSchema,
	// 7 (sqlitestore's 8): the call's exact credits on a rate card in
	// credits; NULL in rows written before.
	`ALTER TABLE usage_records ADD COLUMN credits numeric;`,
	// 8 (sqlitestore's 9): the call's plan in the daily usage rollup; see
	// dailyByPlanSchema.
	dailyByPlanSchema,
}

// columns are the columns of the record's fields (usage.Fields), in the
// order of the values copyRow returns.
var columns = func() []string {
	c := make([]string, len(usage.Fields()))
	for i, f := range usage.Fields() {
		c[i] = f.Name
	}
	return c
}()

// migrationLock is the advisory lock key that serialises Migrate across
// collectors starting at the same time against one database.
const migrationLock = 0x67656e61696d // "genaim"

// Store is an open PostgreSQL ledger (a connection pool). It is safe for
// concurrent use: concurrent batches use different connections.
type Store struct {
	pool *pgxpool.Pool
	// hook, if set, runs in every Insert's transaction (see SetInsertHook).
	hook InsertHook
}

// Open connects with cfg and checks the connection, so that a wrong host,
// password or TLS setting fails at start-up rather than on the first batch.
func Open(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("pgstore: connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return &Store{pool: pool}, nil
}

// Pool exposes the pool for read-only inspection (tests, tools).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool. It is safe on a nil Store and more than once.
func (s *Store) Close() {
	if s != nil && s.pool != nil {
		s.pool.Close()
	}
}

// Migrate creates the schema or brings it forward to SchemaVersion in one
// transaction, under an advisory lock so that collectors starting together
// do not race. It refuses a database written by a newer schema.
func (s *Store) Migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	var current int
	err = tx.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&current)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("pgstore: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("pgstore: migrate: read schema version: %w", err)
	}
	if current > SchemaVersion {
		return fmt.Errorf("pgstore: database has schema version %d, this binary knows up to %d", current, SchemaVersion)
	}
	for v := current; v < SchemaVersion; v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return fmt.Errorf("pgstore: migrate to version %d: %w", v+1, err)
		}
	}
	if current < SchemaVersion {
		if _, err := tx.Exec(ctx, `UPDATE schema_version SET version = $1`, SchemaVersion); err != nil {
			return fmt.Errorf("pgstore: migrate: %w", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: migrate: %w", err)
	}
	return nil
}

// Version returns the schema version recorded in the database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("pgstore: not a usage ledger: %w", err)
	}
	return v, nil
}

// stagingDDL creates the connection's staging table once: a temporary table
// lives as long as its connection, and ON COMMIT DELETE ROWS empties it at the
// end of every batch without a DROP (no catalog churn per batch).
const stagingDDL = `CREATE TEMPORARY TABLE IF NOT EXISTS usage_records_staging
	(LIKE usage_records INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`

// moveSQL inserts the staged batch, numbering the rows from the ledger
// sequence. ON CONFLICT DO NOTHING also skips an event repeated within the
// batch (its number is skipped: the sequence has gaps, never repeats).
var moveSQL = `INSERT INTO usage_records (` + strings.Join(columns, ", ") + `, seq) SELECT ` +
	strings.Join(columns, ", ") + `, nextval('usage_records_seq') FROM usage_records_staging ON CONFLICT (event_id) DO NOTHING`

// Insert stores recs in one transaction (COPY into the staging table, then
// one INSERT ... SELECT ... ON CONFLICT DO NOTHING) and reports how many were
// new and how many were already stored or repeated. On error nothing of recs
// is stored; IsPermanent tells bad data from an unavailable database. A
// record failing usage.ValidateRecord fails the whole call with
// usage.ErrInvalidRecord before anything is written.
func (s *Store) Insert(ctx context.Context, recs []usage.Record) (inserted, duplicates int, err error) {
	if len(recs) == 0 {
		return 0, 0, nil
	}
	for i := range recs {
		if err := usage.ValidateRecord(&recs[i]); err != nil {
			return 0, 0, fmt.Errorf("pgstore: record %d (event_id %q): %w", i, recs[i].EventID, err)
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("pgstore: insert: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, stagingDDL); err != nil {
		return 0, 0, fmt.Errorf("pgstore: insert: staging table: %w", err)
	}
	row := make([]any, len(columns))
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"usage_records_staging"}, columns,
		pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) { return copyRow(row, &recs[i]), nil }))
	if err != nil {
		return 0, 0, fmt.Errorf("pgstore: insert: copy: %w", err)
	}
	if int(n) != len(recs) {
		return 0, 0, fmt.Errorf("pgstore: insert: copied %d of %d records", n, len(recs))
	}
	if s.hook != nil {
		inserted, err = s.moveWithHook(ctx, tx, recs)
		if err != nil {
			return 0, 0, err
		}
	} else {
		tag, err := tx.Exec(ctx, moveSQL)
		if err != nil {
			return 0, 0, fmt.Errorf("pgstore: insert: %w", err)
		}
		inserted = int(tag.RowsAffected())
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("pgstore: insert: commit: %w", err)
	}
	return inserted, len(recs) - inserted, nil
}

// copyRow fills row (reused across rows: CopyFrom encodes it before asking
// for the next) with r's values in column order. Empty optional text is NULL.
func copyRow(row []any, r *usage.Record) []any {
	fields := usage.Fields()
	for i := range fields {
		f := &fields[i] // not a copy of the Field per value
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			row[i] = null(*f.Str(r))
		case usage.KindCount:
			row[i] = *f.Int(r)
		case usage.KindFlag:
			row[i] = *f.Bool(r)
		case usage.KindTime:
			row[i] = f.Time(r).UTC().Truncate(time.Microsecond)
		}
	}
	return row
}

func null(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// IsPermanent reports whether err is a record usage.ValidateRecord refuses,
// or PostgreSQL refusing the data itself — a
// data exception (SQLSTATE class 22: invalid text encoding, a NUL byte, a
// value out of range...) or an integrity violation (class 23) — which no retry
// can fix. Anything else (connection refused or lost, timeouts, a server
// shutting down, lock conflicts) may succeed later.
func IsPermanent(err error) bool {
	if errors.Is(err, usage.ErrInvalidRecord) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || len(pe.Code) < 2 {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23":
		return true
	}
	return false
}
