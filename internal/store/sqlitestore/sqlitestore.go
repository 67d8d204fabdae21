// Package sqlitestore is the SQLite usage ledger: the table the genai_ledger
// exporter writes usage records into and the genaimeter CLI reads back. It lives
// outside the exporter so that both use one schema and one set of queries.
//
// Guarantees:
//   - A record is stored at most once: event_id is the primary key and inserts
//     are INSERT ... ON CONFLICT(event_id) DO NOTHING, so a replayed batch adds
//     nothing (the first stored version of an event wins).
//   - A batch is one transaction: either every new record of it is stored or
//     none is, so a failed batch can be retried as a whole without double counts.
//   - Costs are exact decimal text and are only ever summed as decimals in Go,
//     never as floating point in SQL.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/apd/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// DriverName is the database/sql driver this package uses (modernc.org/sqlite,
// pure Go, so the collector builds with CGO off).
const DriverName = "sqlite"

// BusyTimeout is how long a connection waits for a lock held by another
// connection or process (for example the CLI reading while the collector
// writes) before it fails with SQLITE_BUSY.
const BusyTimeout = 5 * time.Second

// CacheSizeKiB is the page cache of each connection, in KiB (SQLite's
// default is 2,000). The exporter writes batches of 8,192 records and more
// (about 4 MiB of table and index pages) in one transaction: with the default
// cache SQLite spilled dirty pages to the WAL before the commit and read
// evicted index pages back, ~15% of the insert's CPU. Memory is taken only as
// pages are used.
const CacheSizeKiB = 64 << 10

// Store is an open ledger database. It is safe for concurrent use; writes are
// serialised inside the process so that concurrent batches queue on a mutex
// instead of failing on SQLite's single-writer lock.
type Store struct {
	db   *sql.DB
	path string

	writeMu sync.Mutex
	// w is the connection every write uses, taken from the pool on the first
	// write (guarded by writeMu); see beginWrite.
	w *sql.Conn
	// hook, if set, runs in every Insert's transaction (see SetInsertHook).
	hook InsertHook
	// inserts are the prepared INSERTs of 1, 2, 4, ... RowsPerStatement rows,
	// then their RETURNING forms (see insertStmt); guarded by writeMu.
	inserts [2 * insertSizes]*sql.Stmt
	// writeGen counts WriteTx and Migrate calls (see WriteGeneration).
	writeGen atomic.Uint64
}

// insertSizes is how many INSERT texts chunkRows uses: 1, 2, 4, ...,
// RowsPerStatement rows.
const insertSizes = 8

// Synchronous is SQLite's synchronous setting for the ledger connection.
type Synchronous string

const (
	// SynchronousNormal syncs the WAL at checkpoints, not at every commit: a
	// committed batch survives a crash of the process (the WAL is in the OS
	// page cache) but the last batches may roll back on a power loss or an OS
	// crash. In WAL mode the database itself is never corrupted. About twice
	// as fast as FULL on small disks; the default.
	SynchronousNormal Synchronous = "normal"
	// SynchronousFull syncs the WAL at every commit: a committed batch also
	// survives a power loss.
	SynchronousFull Synchronous = "full"
)

// Options tunes Open. The zero value is the default.
type Options struct {
	// Synchronous defaults to SynchronousNormal.
	Synchronous Synchronous
}

// Open opens path with the default Options; see OpenWithOptions.
func Open(path string) (*Store, error) { return OpenWithOptions(path, Options{}) }

// OpenWithOptions opens (creating if needed) the database file at path,
// creating its parent directory if it is missing. Every connection gets WAL
// journaling (the CLI can read while the collector writes), a busy timeout, the
// synchronous setting of o (see Synchronous) and BEGIN IMMEDIATE transactions
// (a write transaction takes the write lock up front instead of failing on a
// lock upgrade). It does not create tables: call Migrate.
func OpenWithOptions(path string, o Options) (*Store, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	sync := o.Synchronous
	switch sync {
	case "":
		sync = SynchronousNormal
	case SynchronousNormal, SynchronousFull:
	default:
		return nil, fmt.Errorf("sqlitestore: synchronous must be %q or %q, got %q", SynchronousNormal, SynchronousFull, sync)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlitestore: create directory of %q: %w", path, err)
		}
	}
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	dsn := path + "?_txlock=immediate" +
		fmt.Sprintf("&_pragma=busy_timeout(%d)", BusyTimeout.Milliseconds()) +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(" + strings.ToUpper(string(sync)) + ")" +
		// A multi-row INSERT keeps a statement journal (the pages it changed,
		// to undo that one statement if it aborts); in a temp file it was ~10%
		// of the exporter's CPU in writes. It is rollback state of the open
		// transaction only, never needed after a crash: memory loses nothing.
		"&_pragma=temp_store(MEMORY)" +
		fmt.Sprintf("&_pragma=cache_size(%d)", -CacheSizeKiB)
	db, err := sql.Open(DriverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %q: %w", path, err)
	}
	// sql.Open is lazy: connect now so that a bad path or a file that is not a
	// database fails here, at start-up, and not on the first batch.
	if err := db.Ping(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitestore: open %q: %w", path, err)
	}
	return &Store{db: db, path: path}, nil
}

// createPrivate creates the ledger file, empty and mode 0600, when it does
// not exist. The ledger is customer data: SQLite would create it 0644 (less
// the umask), readable by every user of the machine, and it creates the -wal
// and -shm files with the database file's mode, so they are 0600 too. An
// existing file keeps the mode its operator gave it. SQLite reads an empty
// file as an empty database.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: create %q: %w", path, err)
	}
	return f.Close()
}

// checkPath refuses names that SQLite would not treat as a plain file: the
// in-memory database (one per pooled connection, and gone on exit) and a "?"
// which the driver reads as the start of its DSN parameters.
func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("sqlitestore: path must not be empty")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return fmt.Errorf("sqlitestore: path must be a file path, got %q", path)
	case strings.Contains(path, "?"):
		return fmt.Errorf("sqlitestore: path must not contain '?', got %q", path)
	}
	return nil
}

// Path returns the file path the store was opened with.
func (s *Store) Path() string { return s.path }

// DB exposes the underlying handle for read-only inspection (tests, tools).
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the database. It is safe to call on a nil Store and more than once.
func (s *Store) Close() error {
	if s == nil || s.db == nil {
		return nil
	}
	s.writeMu.Lock()
	for i, st := range s.inserts {
		if st != nil {
			_ = st.Close()
			s.inserts[i] = nil
		}
	}
	if s.w != nil {
		_ = s.w.Close()
		s.w = nil
	}
	s.writeMu.Unlock()
	return s.db.Close()
}

// beginWrite starts a write transaction on the writer connection; writeMu
// must be held. Every write goes through one connection because SQLite keeps
// a page cache per connection and drops it when another connection wrote the
// database since: writes alternating between pooled connections read back
// every index page they touch (about 5% of the insert's CPU).
//
// The transaction itself is begun without ctx's cancellation: database/sql
// rolls a transaction back from another goroutine when its context ends, so
// the writer's next BEGIN could reach the connection before that ROLLBACK and
// fail with "cannot start a transaction within a transaction" (a collector
// shutting down mid-write did exactly that). Statements still take ctx, and
// every caller rolls back synchronously in a defer.
func (s *Store) beginWrite(ctx context.Context) (*sql.Tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.w == nil {
		c, err := s.db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		s.w = c
	}
	tx, err := s.w.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		// Not kept: the next write takes a fresh connection from the pool
		// (the pool discards a broken one).
		_ = s.w.Close()
		s.w = nil
		return nil, err
	}
	return tx, nil
}

// SchemaVersion is the version Migrate brings a database to: len(migrations)
// (a test holds the two together).
const SchemaVersion = 9

// migrations[i] takes the schema from version i to version i+1. Append only:
// a database records the version it reached and later binaries run forward
// from there.
var migrations = []string{
	`CREATE TABLE usage_records (
		event_id           TEXT    NOT NULL PRIMARY KEY,
		time               TEXT    NOT NULL,
		tenant_id          TEXT,
		user_id            TEXT,
		session_id         TEXT,
		feature            TEXT,
		service_name       TEXT,
		environment        TEXT,
		provider           TEXT,
		operation          TEXT,
		request_model      TEXT,
		response_model     TEXT,
		catalog_provider   TEXT,
		catalog_model      TEXT,
		input_tokens       INTEGER NOT NULL,
		output_tokens      INTEGER NOT NULL,
		cache_read_tokens  INTEGER NOT NULL,
		cache_write_tokens INTEGER NOT NULL,
		reasoning_tokens   INTEGER NOT NULL,
		cost_usd           TEXT,
		reported_cost_usd  TEXT,
		token_convention   TEXT,
		pricing_status     TEXT    NOT NULL,
		pricing_detail     TEXT,
		billable           INTEGER NOT NULL,
		billable_reason    TEXT,
		trace_id           TEXT,
		span_id            TEXT
	);
	CREATE INDEX usage_records_tenant_time ON usage_records (tenant_id, time);
	CREATE INDEX usage_records_time ON usage_records (time);`,
	// 2: revenue and the price reference (re-pricing), the service tier and the
	// tenant's plan.
	`ALTER TABLE usage_records ADD COLUMN plan TEXT;
	ALTER TABLE usage_records ADD COLUMN revenue_usd TEXT;
	ALTER TABLE usage_records ADD COLUMN price_ref TEXT;
	ALTER TABLE usage_records ADD COLUMN service_tier TEXT;`,
	// 3: audio and 1h cache-write tokens (priced at their own rates, so kept
	// for re-pricing), whether the call completed, and how our cost compares
	// with the reported one and which of the two cost_usd is. Rows written
	// before have 0 audio and 1h tokens, which is what their price assumed.
	`ALTER TABLE usage_records ADD COLUMN input_audio_tokens INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE usage_records ADD COLUMN output_audio_tokens INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE usage_records ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE usage_records ADD COLUMN completion TEXT;
	ALTER TABLE usage_records ADD COLUMN cost_reconciliation TEXT;
	ALTER TABLE usage_records ADD COLUMN cost_source TEXT;`,
	// 4: entitlements (balances, grants, daily usage rollups, API keys and
	// their audit trail); see entitlementSchema.
	entitlementSchema,
	// 5: alerts (thresholds, spikes, plan violations) and their delivery;
	// see alertsSchema.
	alertsSchema,
	// 6: the alerts' second outbox, for the genai_alerts receiver's log
	// records (a row is emitted once, like it is posted once).
	`ALTER TABLE genaimeter_alerts ADD COLUMN logged_at INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE genaimeter_alerts ADD COLUMN log_claimed_until INTEGER NOT NULL DEFAULT 0;`,
	// 7: the write-optimized ledger: no (tenant_id, time) index, spend
	// rollups instead; see rollupSchema.
	rollupSchema,
	// 8: the call's exact credits on a rate card in credits (usage.Record
	// Credits); rows written before have none (NULL), and plans count their
	// revenue at credits_per_usd as before.
	`ALTER TABLE usage_records ADD COLUMN credits TEXT;`,
	// 9: the call's plan in the daily usage rollup, for the finance reports;
	// see dailyByPlanSchema.
	dailyByPlanSchema,
}

// Migrate creates the schema or brings it forward to SchemaVersion, in one
// transaction. It refuses a database written by a newer schema, which this
// binary would misread.
func (s *Store) Migrate(ctx context.Context) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.writeGen.Add(1)
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	var current int
	err = tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&current)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (0)`); err != nil {
			return fmt.Errorf("sqlitestore: migrate: %w", err)
		}
	case err != nil:
		return fmt.Errorf("sqlitestore: migrate: read schema version: %w", err)
	}
	if current > SchemaVersion {
		return fmt.Errorf("sqlitestore: database %q has schema version %d, this binary knows up to %d", s.path, current, SchemaVersion)
	}
	for v := current; v < SchemaVersion; v++ {
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			return fmt.Errorf("sqlitestore: migrate to version %d: %w", v+1, err)
		}
	}
	if current < SchemaVersion {
		if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, SchemaVersion); err != nil {
			return fmt.Errorf("sqlitestore: migrate: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	return nil
}

func parseCost(s string) (*apd.Decimal, error) {
	d, err := money.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a decimal: %q", s)
	}
	if d.Negative && !d.IsZero() {
		return nil, fmt.Errorf("must be >= 0, got %q", s)
	}
	return &d, nil
}

// insertColumns is the column list of an insert: every field of the record
// (usage.Fields), in its order; insertValues has one placeholder per column,
// in the same order as the arguments appendArgs adds.
var (
	insertColumns, insertValues = func() (string, string) {
		cols, vals := make([]string, len(usage.Fields())), make([]string, len(usage.Fields()))
		for i, f := range usage.Fields() {
			cols[i], vals[i] = f.Name, "?"
		}
		return strings.Join(cols, ", "), "(" + strings.Join(vals, ", ") + ")"
	}()
	insertArgCount = len(usage.Fields())
)

// RowsPerStatement is how many records one multi-row INSERT carries. One
// statement per row spent most of its time crossing the database/sql and
// driver layers per row; 128 rows (under 5,000 bound values, far below SQLite's
// 32,766 limit) amortise that while keeping the statement text small enough
// to prepare once per batch.
const RowsPerStatement = 128

// insertSQL returns the INSERT of n rows. Conflicting event ids (already
// stored, or repeated within the statement) are skipped, one by one.
func insertSQL(n int) string {
	var b strings.Builder
	b.Grow(len(insertColumns) + n*(len(insertValues)+2) + 80)
	b.WriteString("INSERT INTO usage_records (")
	b.WriteString(insertColumns)
	b.WriteString(") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(insertValues)
	}
	b.WriteString(" ON CONFLICT (event_id) DO NOTHING")
	return b.String()
}

// returningClause makes an INSERT report the rows it stored (not those it
// skipped as conflicts) with their rowid, the ledger's insertion sequence.
const returningClause = " RETURNING rowid, event_id"

// appendArgs appends the bound values of r, in insertColumns order: empty
// text is NULL, the time is text in usage.TimeLayout.
func appendArgs(args []any, r *usage.Record) []any {
	fields := usage.Fields()
	for i := range fields {
		f := &fields[i] // not a copy of the Field per value
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			args = append(args, nullable(*f.Str(r)))
		case usage.KindCount:
			args = append(args, *f.Int(r))
		case usage.KindFlag:
			args = append(args, *f.Bool(r))
		case usage.KindTime:
			args = append(args, f.Time(r).UTC().Format(usage.TimeLayout))
		}
	}
	return args
}

// Insert stores recs in one transaction, RowsPerStatement rows per INSERT,
// and reports how many were new and how many were already stored (including
// repeats within recs). On error nothing of recs is stored. A record failing
// usage.ValidateRecord fails the whole call with usage.ErrInvalidRecord before
// anything is written: callers filter with usage.ValidateRecord first.
func (s *Store) Insert(ctx context.Context, recs []usage.Record) (inserted, duplicates int, err error) {
	if len(recs) == 0 {
		return 0, 0, nil
	}
	for i := range recs {
		if err := usage.ValidateRecord(&recs[i]); err != nil {
			return 0, 0, fmt.Errorf("sqlitestore: record %d (event_id %q): %w", i, recs[i].EventID, err)
		}
	}
	return s.insert(ctx, recs)
}

// InsertValidated is Insert for records that passed usage.ValidateRecord
// already (the exporter validates each record as it decodes it, and drops or
// dead-letters the invalid ones): it does not validate them a second time,
// ~5% of the exporter's CPU per record. An invalid record here is a bug of
// the caller.
func (s *Store) InsertValidated(ctx context.Context, recs []usage.Record) (inserted, duplicates int, err error) {
	if len(recs) == 0 {
		return 0, 0, nil
	}
	return s.insert(ctx, recs)
}

func (s *Store) insert(ctx context.Context, recs []usage.Record) (inserted, duplicates int, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlitestore: insert: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if s.hook != nil {
		inserted, err = s.insertReturning(ctx, tx, recs)
	} else {
		inserted, err = s.insertChunks(ctx, tx, recs)
	}
	if err != nil {
		return 0, 0, err
	}
	duplicates = len(recs) - inserted
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("sqlitestore: insert: commit: %w", err)
	}
	return inserted, duplicates, nil
}

// insertChunks inserts recs, RowsPerStatement rows per INSERT (the rest in
// power-of-two chunks, see chunkRows), and returns how many were new.
func (s *Store) insertChunks(ctx context.Context, tx *sql.Tx, recs []usage.Record) (inserted int, err error) {
	args := make([]any, 0, insertArgCount*min(len(recs), RowsPerStatement))
	for start := 0; start < len(recs); {
		chunk := recs[start : start+chunkRows(len(recs)-start)]
		args = args[:0]
		for i := range chunk {
			args = appendArgs(args, &chunk[i])
		}
		st, err := s.insertStmt(ctx, tx, len(chunk), false)
		if err != nil {
			return 0, insertErr(start, chunk, err)
		}
		res, err := st.ExecContext(ctx, args...)
		_ = st.Close()
		if err != nil {
			return 0, insertErr(start, chunk, err)
		}
		// DO NOTHING affects no row: those events are already stored.
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("sqlitestore: insert: %w", err)
		}
		inserted += int(n)
		start += len(chunk)
	}
	return inserted, nil
}

// chunkRows is how many of n remaining records the next INSERT carries:
// RowsPerStatement, or the largest power of two not above n. The statement
// text depends on its row count, so this keeps the texts to 8 (each
// prepared once per process, see insertStmt) instead of one per batch
// size's remainder.
func chunkRows(n int) int {
	if n >= RowsPerStatement {
		return RowsPerStatement
	}
	p := 1
	for p*2 <= n {
		p *= 2
	}
	return p
}

// insertStmt returns the INSERT of rows rows (with returning, its RETURNING
// form) bound to tx; the caller closes it. The statement is prepared on the
// database handle once per process and bound to the writer connection by
// Tx.StmtContext, which prepares it there the first time only: preparing the
// INSERT of each batch (and its remainder's) again was ~17% of the exporter's
// CPU in a 1,000-record batch.
func (s *Store) insertStmt(ctx context.Context, tx *sql.Tx, rows int, returning bool) (*sql.Stmt, error) {
	i := bits.Len(uint(rows)) - 1 // rows is a power of two up to RowsPerStatement
	if returning {
		i += len(s.inserts) / 2
	}
	st := s.inserts[i]
	if st == nil {
		text := insertSQL(rows)
		if returning {
			text += returningClause
		}
		var err error
		if st, err = s.db.PrepareContext(ctx, text); err != nil {
			return nil, err
		}
		s.inserts[i] = st
	}
	return tx.StmtContext(ctx, st), nil
}

func insertErr(start int, chunk []usage.Record, err error) error {
	return fmt.Errorf("sqlitestore: insert records %d..%d (event_id %q..%q): %w",
		start, start+len(chunk)-1, chunk[0].EventID, chunk[len(chunk)-1].EventID, err)
}

// nullable stores an empty optional text field as NULL, so that "not known"
// is one value in queries (IS NULL) rather than two.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// IsTransient reports whether err is a SQLite lock conflict (SQLITE_BUSY or
// SQLITE_LOCKED, including their extended codes) that may well succeed when
// retried.
func IsTransient(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// Version returns the schema version recorded in the database, or an error if
// the file is not a ledger (no schema_version table). Readers such as the CLI
// use it instead of Migrate, which would write.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	if err := s.db.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("sqlitestore: %q is not a usage ledger: %w", s.path, err)
	}
	return v, nil
}
