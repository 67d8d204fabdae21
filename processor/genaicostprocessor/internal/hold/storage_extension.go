package hold // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Layout of the held calls in the storage extension. A storage client cannot
// list its keys (Walk is optional), so an index lists the live entries.
//
//	held/index       the seqs of the live entries, as uvarints
//	held/<seq>       the calls one batch left held, as one OTLP request
//	                 (ptrace proto): resource spans i is call i, with its
//	                 resource and scope, as it came in (not yet metered)
//	held/<seq>/done  the indexes of the calls of <seq> already let go while
//	                 others are still held, as uvarints
const (
	heldStorageName = "held_calls"
	heldIndexKey    = "held/index"
)

func heldKey(seq uint64) string { return "held/" + strconv.FormatUint(seq, 10) }
func doneKey(seq uint64) string { return heldKey(seq) + "/done" }

// extensionStorage keeps held calls in a storage extension (file_storage,
// db_storage...), so that calls whose batch was acknowledged survive a crash.
type extensionStorage struct {
	id      component.ID // the storage extension, for error messages
	client  storage.Client
	next    uint64 // seq of the next entry; 0 is never used (a call not stored)
	entries map[uint64]*heldEntry
	// unsynced are deletes that failed; they go with the next write, so that
	// a storage hiccup does not leave garbage behind for good.
	unsynced []*storage.Operation
}

// heldEntry tracks the calls of one stored batch that are still held.
type heldEntry struct {
	live int
	done []uint64
}

// Extension gets a client of the storage extension named id for the
// component owner.
func Extension(ctx context.Context, host component.Host, id, owner component.ID) (Storage, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("extension %q not found", id)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("extension %q is not a storage extension", id)
	}
	client, err := se.GetClient(ctx, component.KindProcessor, owner, heldStorageName)
	if err != nil {
		return nil, fmt.Errorf("getting a client of %q: %w", id, err)
	}
	return &extensionStorage{id: id, client: client, next: 1, entries: map[uint64]*heldEntry{}}, nil
}

// Load reads every call still held when the collector stopped or crashed. An
// entry that cannot be read fails the start with its key: skipping it would
// drop acknowledged calls silently.
func (s *extensionStorage) Load(ctx context.Context) ([]Stored, error) {
	raw, err := s.client.Get(ctx, heldIndexKey)
	if err != nil {
		return nil, fmt.Errorf("reading %s from %q: %w", heldIndexKey, s.id, err)
	}
	seqs, err := decodeUvarints(raw)
	if err != nil {
		return nil, fmt.Errorf("%s in %q: %w", heldIndexKey, s.id, err)
	}
	var out []Stored
	var empty []uint64
	var u ptrace.ProtoUnmarshaler
	for _, seq := range seqs {
		s.next = max(s.next, seq+1)
		b, err := s.client.Get(ctx, heldKey(seq))
		if err != nil {
			return nil, fmt.Errorf("reading %s from %q: %w", heldKey(seq), s.id, err)
		}
		d, err := s.client.Get(ctx, doneKey(seq))
		if err != nil {
			return nil, fmt.Errorf("reading %s from %q: %w", doneKey(seq), s.id, err)
		}
		done, err := decodeUvarints(d)
		if err != nil {
			return nil, fmt.Errorf("%s in %q: %w", doneKey(seq), s.id, err)
		}
		td, err := u.UnmarshalTraces(b)
		if err != nil {
			return nil, fmt.Errorf("%s in %q: %w", heldKey(seq), s.id, err)
		}
		e := &heldEntry{done: done}
		rss := td.ResourceSpans()
		for i := 0; i < rss.Len(); i++ {
			// A resource without a span was never written by this processor:
			// nothing to hold.
			if slices.Contains(done, uint64(i)) || rss.At(i).ScopeSpans().Len() == 0 || rss.At(i).ScopeSpans().At(0).Spans().Len() == 0 {
				continue
			}
			one := ptrace.NewTraces()
			rss.At(i).MoveTo(one.ResourceSpans().AppendEmpty())
			out = append(out, Stored{Traces: one, Pos: Position{Seq: seq, Idx: uint64(i)}})
			e.live++
		}
		if e.live == 0 {
			// Every call was let go; the crash came before the entry was deleted.
			empty = append(empty, seq)
			continue
		}
		s.entries[seq] = e
	}
	if len(empty) > 0 {
		ops := slices.Clone(s.unsynced)
		for _, seq := range empty {
			ops = append(ops, storage.DeleteOperation(heldKey(seq)), storage.DeleteOperation(doneKey(seq)))
		}
		if err := s.client.Batch(ctx, append(ops, storage.SetOperation(heldIndexKey, s.index()))...); err != nil {
			return nil, fmt.Errorf("cleaning up %q: %w", s.id, err)
		}
		s.unsynced = nil
	}
	return out, nil
}

// Persist writes the calls a batch leaves held as one entry, in one storage
// transaction with the index, and numbers them. On error nothing is numbered.
func (s *extensionStorage) Persist(ctx context.Context, calls []ptrace.Traces) ([]Position, error) {
	seq := s.next
	s.next++ // even on error: a half-written entry is never reused
	td := ptrace.NewTraces()
	for _, c := range calls {
		c.ResourceSpans().At(0).CopyTo(td.ResourceSpans().AppendEmpty())
	}
	var m ptrace.ProtoMarshaler
	b, err := m.MarshalTraces(td)
	if err != nil {
		return nil, fmt.Errorf("storing %d held calls in %q: %w", len(calls), s.id, err)
	}
	s.entries[seq] = &heldEntry{live: len(calls)}
	ops := slices.Concat(s.unsynced, []*storage.Operation{storage.SetOperation(heldKey(seq), b), storage.SetOperation(heldIndexKey, s.index())})
	if err := s.client.Batch(ctx, ops...); err != nil {
		delete(s.entries, seq)
		return nil, fmt.Errorf("storing %d held calls in %q: %w", len(calls), s.id, err)
	}
	s.unsynced = nil
	pos := make([]Position, len(calls))
	for i := range pos {
		pos[i] = Position{Seq: seq, Idx: uint64(i)}
	}
	return pos, nil
}

// Release forgets calls that were let go and accepted by the next consumer:
// an entry is deleted when its last call goes, otherwise its done list grows.
// On error the calls stay stored: they are held again after the next start and
// go on a second time, with the same event id (the ledger keeps one).
func (s *extensionStorage) Release(ctx context.Context, pos []Position) error {
	var touched []uint64
	for _, p := range pos {
		e := s.entries[p.Seq]
		if p.Seq == 0 || e == nil {
			continue
		}
		e.live--
		e.done = append(e.done, p.Idx)
		if !slices.Contains(touched, p.Seq) {
			touched = append(touched, p.Seq)
		}
	}
	if len(touched) == 0 {
		return nil
	}
	var deletes, sets []*storage.Operation
	for _, seq := range touched {
		e := s.entries[seq]
		if e.live > 0 {
			sets = append(sets, storage.SetOperation(doneKey(seq), encodeUvarints(e.done)))
			continue
		}
		delete(s.entries, seq)
		deletes = append(deletes, storage.DeleteOperation(heldKey(seq)), storage.DeleteOperation(doneKey(seq)))
	}
	ops := slices.Concat(s.unsynced, deletes, sets)
	if len(deletes) > 0 {
		ops = append(ops, storage.SetOperation(heldIndexKey, s.index()))
	}
	if err := s.client.Batch(ctx, ops...); err != nil {
		s.unsynced = append(s.unsynced, deletes...)
		return err
	}
	s.unsynced = nil
	return nil
}

func (s *extensionStorage) Close(ctx context.Context) error {
	return s.client.Close(ctx)
}

// index lists the live entries in seq order.
func (s *extensionStorage) index() []byte {
	seqs := make([]uint64, 0, len(s.entries))
	for seq := range s.entries {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	return encodeUvarints(seqs)
}

func encodeUvarints(xs []uint64) []byte {
	b := make([]byte, 0, len(xs)*3)
	for _, x := range xs {
		b = binary.AppendUvarint(b, x)
	}
	return b
}

var errTruncated = errors.New("truncated uvarint list")

func decodeUvarints(b []byte) ([]uint64, error) {
	var out []uint64
	for len(b) > 0 {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errTruncated
		}
		out = append(out, x)
		b = b[n:]
	}
	return out, nil
}
