package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// Stored is a record that an Insert stored for the first time, with its
// position in the ledger: the table's rowid, which SQLite assigns in
// insertion order (max+1; the ledger never deletes), so that readers can
// replay the ledger in the order it was written.
type Stored struct {
	Seq    int64
	Record *usage.Record
}

// InsertHook runs inside the transaction of every Insert, after the batch's
// rows are written and before the commit, with the records that were new, in
// ledger order. Rollups kept by a hook (balances) therefore count exactly the
// stored records, once: a replayed record is not new, and an error from the
// hook rolls the whole batch back.
type InsertHook func(ctx context.Context, tx *sql.Tx, stored []Stored) error

// SetInsertHook sets (or, with nil, removes) the hook of later Inserts.
func (s *Store) SetInsertHook(h InsertHook) {
	s.writeMu.Lock()
	s.hook = h
	s.writeMu.Unlock()
}

// WriteTx runs fn in a write transaction on the writer connection, serialised
// with Inserts, and commits when fn returns nil.
func (s *Store) WriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.writeGen.Add(1)
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("sqlitestore: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	return nil
}

// WriteGeneration counts the writes through this Store other than Inserts
// (WriteTx, Migrate), begun so far. An insert hook that keeps state across
// Inserts (the balances' cache of their rows) compares it between Inserts to
// learn whether anything else wrote through the writer connection, which
// SQLite's data_version does not report (it counts other connections'
// commits only).
func (s *Store) WriteGeneration() uint64 { return s.writeGen.Load() }

// insertReturning is insertChunks with RETURNING: it learns which records
// were new and their rowids, then runs the hook. Within a statement the first
// of repeated event ids is the one stored.
func (s *Store) insertReturning(ctx context.Context, tx *sql.Tx, recs []usage.Record) (int, error) {
	stored := make([]Stored, 0, len(recs))
	args := make([]any, 0, insertArgCount*min(len(recs), RowsPerStatement))
	index := make(map[string]int, min(len(recs), RowsPerStatement))
	for start := 0; start < len(recs); {
		chunk := recs[start : start+chunkRows(len(recs)-start)]
		args = args[:0]
		clear(index)
		for i := range chunk {
			args = appendArgs(args, &chunk[i])
			if _, seen := index[chunk[i].EventID]; !seen {
				index[chunk[i].EventID] = start + i
			}
		}
		st, err := s.insertStmt(ctx, tx, len(chunk), true)
		if err != nil {
			return 0, insertErr(start, chunk, err)
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			_ = st.Close()
			return 0, insertErr(start, chunk, err)
		}
		for rows.Next() {
			var seq int64
			var id string
			if err := rows.Scan(&seq, &id); err != nil {
				_ = rows.Close()
				_ = st.Close()
				return 0, fmt.Errorf("sqlitestore: insert: %w", err)
			}
			stored = append(stored, Stored{Seq: seq, Record: &recs[index[id]]})
		}
		err = rows.Close()
		_ = st.Close()
		if err != nil {
			return 0, insertErr(start, chunk, err)
		}
		if err := rows.Err(); err != nil {
			return 0, insertErr(start, chunk, err)
		}
		start += len(chunk)
	}
	slices.SortFunc(stored, func(a, b Stored) int { return cmp.Compare(a.Seq, b.Seq) })
	if err := s.hook(ctx, tx, stored); err != nil {
		return 0, fmt.Errorf("sqlitestore: insert hook: %w", err)
	}
	return len(stored), nil
}
