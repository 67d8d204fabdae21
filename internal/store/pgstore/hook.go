package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// Stored is a record that an Insert stored for the first time, with its
// position in the ledger (the seq column, from the usage_records_seq sequence).
type Stored struct {
	Seq    int64
	Record *usage.Record
}

// InsertHook runs inside the transaction of every Insert, after the batch is
// moved into usage_records and before the commit, with the records that were
// new, in ledger order. An error rolls the batch back.
type InsertHook func(ctx context.Context, tx pgx.Tx, stored []Stored) error

// SeqLock is the advisory lock an Insert with a hook holds from numbering
// its rows to its commit, so that across collectors sharing the database the
// sequence order is the commit order: a hook that applies records in
// sequence order then sees every earlier record applied. Anything that must
// be ordered against the ledger (creating or voiding a grant) takes it too.
const SeqLock = 0x67656e6d7371 // "genmsq"

// SetInsertHook sets the hook of later Inserts. Not safe to call during Inserts.
func (s *Store) SetInsertHook(h InsertHook) { s.hook = h }

// WriteTx runs fn in a transaction holding SeqLock and commits when fn
// returns nil.
func (s *Store) WriteTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(SeqLock)); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgstore: commit: %w", err)
	}
	return nil
}

// moveWithHook moves the staged batch under SeqLock, learns the new rows and
// their numbers, and runs the hook.
func (s *Store) moveWithHook(ctx context.Context, tx pgx.Tx, recs []usage.Record) (int, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(SeqLock)); err != nil {
		return 0, fmt.Errorf("pgstore: insert: lock: %w", err)
	}
	rows, err := tx.Query(ctx, moveSQL+` RETURNING seq, event_id`)
	if err != nil {
		return 0, fmt.Errorf("pgstore: insert: %w", err)
	}
	index := make(map[string]int, len(recs))
	for i := len(recs) - 1; i >= 0; i-- {
		index[recs[i].EventID] = i // the first of repeated ids
	}
	stored := make([]Stored, 0, len(recs))
	for rows.Next() {
		var seq int64
		var id string
		if err := rows.Scan(&seq, &id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("pgstore: insert: %w", err)
		}
		stored = append(stored, Stored{Seq: seq, Record: &recs[index[id]]})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("pgstore: insert: %w", err)
	}
	slices.SortFunc(stored, func(a, b Stored) int { return cmp.Compare(a.Seq, b.Seq) })
	if err := s.hook(ctx, tx, stored); err != nil {
		return 0, fmt.Errorf("pgstore: insert hook: %w", err)
	}
	return len(stored), nil
}
