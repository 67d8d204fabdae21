package balances

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
)

type sqliteBackend struct {
	st    *sqlitestore.Store
	stmts *stmtCache
}

func (b sqliteBackend) write(ctx context.Context, fn func(q querier) error) error {
	return b.st.WriteTx(ctx, func(tx *sql.Tx) error { return fn(sqlQuerier{q: tx, tx: tx, stmts: b.stmts}) })
}

func (b sqliteBackend) read() querier { return sqlQuerier{q: b.st.DB()} }

type pgBackend struct{ st *pgstore.Store }

func (b pgBackend) write(ctx context.Context, fn func(q querier) error) error {
	return b.st.WriteTx(ctx, func(tx pgx.Tx) error { return fn(pgQuerier{tx}) })
}

func (b pgBackend) read() querier { return pgQuerier{b.st.Pool()} }

// ForSQLite returns the balances of a migrated SQLite ledger. With attach,
// the store's inserts maintain them (the collector's ledger); without, the
// Ledger only reads and administers (a CLI, a second process).
func ForSQLite(st *sqlitestore.Store, plans *entitlement.Source, attach bool) *Ledger {
	be := sqliteBackend{st: st, stmts: newStmtCache(st.DB())}
	l := &Ledger{plans: plans, be: be}
	if attach {
		l.cache = newBookCache()
		st.SetInsertHook(func(ctx context.Context, tx *sql.Tx, stored []sqlitestore.Stored) error {
			items := make([]item, len(stored))
			for i, s := range stored {
				items[i] = item{seq: s.Seq, r: s.Record}
			}
			return l.apply(ctx, sqlQuerier{q: tx, tx: tx, stmts: be.stmts}, items, l.cache, st.WriteGeneration())
		})
	}
	return l
}

// ForPostgres is ForSQLite for a PostgreSQL ledger. Every collector writing
// to a shared ledger should attach; records written by one that does not are
// caught up by the next insert that does, in ledger order.
func ForPostgres(st *pgstore.Store, plans *entitlement.Source, attach bool) *Ledger {
	l := &Ledger{plans: plans, be: pgBackend{st}}
	if attach {
		st.SetInsertHook(func(ctx context.Context, tx pgx.Tx, stored []pgstore.Stored) error {
			items := make([]item, len(stored))
			for i, s := range stored {
				items[i] = item{seq: s.Seq, r: s.Record}
			}
			return l.apply(ctx, pgQuerier{tx}, items, nil, 0)
		})
	}
	return l
}

// catchUpChunk is how many records one catch-up transaction applies, and
// how many a rebuild reads and applies at a time.
const catchUpChunk = 20000

// applyPending applies, in q's transaction, up to limit records stored after
// the applied sequence, in ledger order, and returns how many.
func (l *Ledger) applyPending(ctx context.Context, q querier, limit int) (int, error) {
	applied, err := appliedSeq(ctx, q)
	if err != nil {
		return 0, err
	}
	var todo []item
	if err := readRecords(ctx, q, applied, 0, limit, func(it item) error {
		todo = append(todo, it)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("balances: catch up: %w", err)
	}
	return len(todo), l.applyItems(ctx, q, todo, nil)
}

func (l *Ledger) chunkSize() int {
	if l.chunk > 0 {
		return l.chunk
	}
	return catchUpChunk
}

// CatchUp applies every record stored but not applied yet (records stored
// before the balances existed, or by a writer without the hook), in ledger
// order, a chunk per transaction. It returns how many it applied.
func (l *Ledger) CatchUp(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := l.be.write(ctx, func(q querier) error {
			var err error
			n, err = l.applyPending(ctx, q, l.chunkSize())
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < l.chunkSize() {
			return total, nil
		}
	}
}

// Rebuild drops the balances, daily and spend rollups, returns every grant to
// unused, and applies the whole ledger again in ledger order (the source of
// truth). With unchanged plans it reproduces the incremental state exactly.
//
// The reset and the replay are one transaction: they commit together or not
// at all. A crash or a record that fails to apply leaves the balances as they
// were, a reader (the check endpoint) sees the old balances until the new
// ones commit, never reset or half-replayed ones, and an insert waits for the
// rebuild (SQLite has one writer; on PostgreSQL both hold pgstore.SeqLock)
// and then applies on top of the rebuilt state. The replay still reads and
// applies the records a chunk at a time, which bounds its memory, not its
// transaction.
func (l *Ledger) Rebuild(ctx context.Context) (int, error) {
	total := 0
	err := l.be.write(ctx, func(q querier) error {
		total = 0
		for _, stmt := range []string{
			`DELETE FROM genaimeter_balances`,
			`DELETE FROM genaimeter_daily_usage`,
			`DELETE FROM genaimeter_spend`,
			`DELETE FROM genaimeter_spend_buckets`,
			`UPDATE genaimeter_grants SET used = '0'`,
			`UPDATE genaimeter_balance_state SET applied_seq = 0`,
		} {
			if err := q.exec(ctx, stmt); err != nil {
				return fmt.Errorf("balances: rebuild: %w", err)
			}
		}
		for {
			n, err := l.applyPending(ctx, q, l.chunkSize())
			if err != nil {
				return err
			}
			total += n
			if l.rebuiltChunk != nil {
				l.rebuiltChunk()
			}
			if n < l.chunkSize() {
				return nil
			}
		}
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
