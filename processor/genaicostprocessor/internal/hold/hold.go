package hold // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

// Why the holder itself let a call go (the caller names the calls it takes).
const (
	ReasonExpired  = "wait_expired"
	ReasonCapacity = "capacity"
	ReasonShutdown = "shutdown"
)

// Storage operations that can fail (the operation attribute of StorageErrors).
const (
	OpPersist = "persist"
	OpRelease = "release"
)

// Settings configure a Holder.
type Settings[M any] struct {
	// Wait is how long a call is held; MaxHeld how many calls at most: when
	// full, the oldest goes on first.
	Wait    time.Duration
	MaxHeld int
	// Durable says that held calls will be stored (Restore is given a
	// storage): the batches that carry stored calls on are then tracked
	// until the next consumer accepts them (Acknowledging).
	Durable bool
	// Lock is the caller's lock, shared because a held call and what it
	// waits for change together. The Holder's methods run under it, except
	// Restore, Start, Emit, ReleaseExpired, Shutdown, Close and the consumer
	// Acknowledging returns, which take it themselves.
	Lock sync.Locker
	Now  func() time.Time
	// Next passes calls let go outside a batch on.
	Next func(context.Context, ptrace.Traces) error
	// Finish is handed the calls the holder lets go outside a batch (wait
	// expired, shutdown), under Lock, before they go on to Next.
	Finish        func(ctx context.Context, calls []*Call[M], reason string)
	Logger        *zap.Logger
	StorageErrors metric.Int64Counter
}

// Holder holds calls until the caller takes them, their wait runs out, the
// hold is full or the collector stops. Nothing held is dropped: every call
// goes on, with a batch (Hold's capacity eviction, Take) or through Next.
type Holder[M any] struct {
	set      Settings[M]
	queue    deadlines[M]
	store    Storage // nil once shut down
	inflight map[ptrace.Traces][]Position
	errAttrs map[string]metric.MeasurementOption

	started  bool
	stopOnce sync.Once
	stop     chan struct{}
	stopped  chan struct{}
}

// New is a holder with calls in memory until Restore gives it a storage.
func New[M any](set Settings[M]) *Holder[M] {
	h := &Holder[M]{
		set: set, queue: newDeadlines[M](), store: Memory(),
		inflight: map[ptrace.Traces][]Position{},
		errAttrs: map[string]metric.MeasurementOption{},
		stop:     make(chan struct{}), stopped: make(chan struct{}),
	}
	for _, op := range []string{OpPersist, OpRelease} {
		h.errAttrs[op] = metric.WithAttributeSet(attribute.NewSet(attribute.String("operation", op)))
	}
	return h
}

// Len is how many calls are held.
func (h *Holder[M]) Len() int { return h.queue.len() }

// Waiting reports whether calls of trace are held.
func (h *Holder[M]) Waiting(trace pcommon.TraceID) bool { return h.queue.has(trace) }

// Held lists the calls of trace that are held (a copy: Take may follow).
func (h *Holder[M]) Held(trace pcommon.TraceID) []*Call[M] {
	return append([]*Call[M](nil), h.queue.byTrace[trace]...)
}

// Take lets go a held call whose wait is over for the caller.
func (h *Holder[M]) Take(c *Call[M]) { h.queue.take(c) }

// Hold holds c for the wait. When the hold is full, the oldest call is let
// go first and returned (ReasonCapacity): the caller finishes it and sends it
// on with its batch.
func (h *Holder[M]) Hold(c *Call[M]) (evicted *Call[M]) {
	if h.queue.len() >= h.set.MaxHeld {
		evicted = h.queue.popOldest()
	}
	h.queue.push(c, h.set.Now().Add(h.set.Wait))
	return evicted
}

// Persist stores the calls a batch held and still holds, before the batch is
// acknowledged. An error is retryable: the caller refuses the batch (and
// Unholds its calls), and its sender sends it again.
func (h *Holder[M]) Persist(ctx context.Context, held []*Call[M]) error {
	if h.store == nil || !h.set.Durable {
		return nil // in memory only: nothing to write
	}
	var calls []*Call[M]
	var tds []ptrace.Traces
	for _, c := range held {
		if !c.done {
			calls = append(calls, c)
			tds = append(tds, c.Traces)
		}
	}
	if len(calls) == 0 {
		return nil
	}
	pos, err := h.store.Persist(ctx, tds)
	if err != nil {
		h.set.StorageErrors.Add(ctx, 1, h.errAttrs[OpPersist])
		h.set.Logger.Error("Failed to store held calls; refusing their batch", zap.Int("calls", len(calls)), zap.Error(err))
		return err
	}
	for i, c := range calls {
		c.pos = pos[i]
	}
	return nil
}

// Unhold takes back the calls a refused batch held: they come back with it.
// It returns how many of them the same batch had let go again already (by
// capacity, see Hold).
func (h *Holder[M]) Unhold(held []*Call[M]) (letGoAgain int) {
	for _, c := range held {
		if c.done {
			letGoAgain++
			continue
		}
		h.queue.take(c)
	}
	return letGoAgain
}

// Deliver notes that stored calls let go go on in batch td: they are
// forgotten in the storage once the next consumer has accepted td (see
// Acknowledging).
func (h *Holder[M]) Deliver(td ptrace.Traces, calls []*Call[M]) {
	if pos := positions(calls); len(pos) > 0 {
		h.inflight[td] = pos
	}
}

// Acknowledging wraps the next consumer when calls are stored: the stored
// calls let go into a batch are forgotten only once the next consumer has
// accepted it (with a persistent sending queue: once they are on disk there).
// A crash in between sends them again after the restart, identical, so that
// what is downstream keeps one. Without storage, next is returned as is.
func (h *Holder[M]) Acknowledging(next consumer.Traces) consumer.Traces {
	if !h.set.Durable {
		return next
	}
	c, _ := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		err := next.ConsumeTraces(ctx, td)
		h.set.Lock.Lock()
		pos, ok := h.inflight[td]
		delete(h.inflight, td)
		h.set.Lock.Unlock()
		if ok && err == nil {
			h.forget(ctx, pos)
		}
		return err
	}, consumer.WithCapabilities(next.Capabilities()))
	return c
}

// Restore makes store the storage of held calls and holds again, with a fresh
// wait, every call it kept: calls held when the collector stopped or crashed.
// read fills in the caller's Meta of each. It returns how many calls it holds
// again. On error the storage is closed.
func (h *Holder[M]) Restore(ctx context.Context, store Storage, read func(*Call[M])) (int, error) {
	stored, err := store.Load(ctx)
	if err != nil {
		_ = store.Close(ctx)
		return 0, err
	}
	deadline := h.set.Now().Add(h.set.Wait)
	h.set.Lock.Lock()
	defer h.set.Lock.Unlock()
	for _, s := range stored {
		c := NewCall[M](s.Traces, *new(M))
		c.pos = s.Pos
		read(c)
		h.queue.push(c, deadline)
	}
	h.store = store
	return len(stored), nil
}

// Start starts the clock that lets calls go when their wait runs out. Calls
// restored from storage are let go by it even when the wait is now 0 (their
// deadline is then now).
func (h *Holder[M]) Start() {
	h.started = true
	if h.set.Wait > 0 || h.Len() > 0 {
		go h.expireLoop(tickFor(h.set.Wait))
	} else {
		close(h.stopped)
	}
}

// tickFor is how often held calls are checked for expiry: a tenth of the
// wait, between 10ms and 1s, so a call is held at most ~10% past its wait.
func tickFor(wait time.Duration) time.Duration {
	return min(max(wait/10, 10*time.Millisecond), time.Second)
}

func (h *Holder[M]) expireLoop(tick time.Duration) {
	defer close(h.stopped)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.ReleaseExpired(context.Background())
		}
	}
}

// Stopped is closed once the clock has stopped.
func (h *Holder[M]) Stopped() <-chan struct{} { return h.stopped }

// ReleaseExpired lets go the calls whose wait has run out; an error passing
// them on is logged (nobody to return it to) and they stay stored, if stored.
func (h *Holder[M]) ReleaseExpired(ctx context.Context) {
	_ = h.letGo(ctx, ReasonExpired, h.set.Now(), true)
}

func (h *Holder[M]) letGo(ctx context.Context, reason string, now time.Time, expiredOnly bool) error {
	var calls []*Call[M]
	h.set.Lock.Lock()
	for c := h.queue.popFirst(now, expiredOnly); c != nil; c = h.queue.popFirst(now, expiredOnly) {
		calls = append(calls, c)
	}
	if len(calls) > 0 {
		h.set.Finish(ctx, calls, reason)
	}
	h.set.Lock.Unlock()
	return h.Emit(ctx, calls)
}

// Emit sends calls let go outside of a batch to the next consumer, and then
// forgets them in the storage. Refused, they stay in the storage (if any) and
// come back at the next start.
func (h *Holder[M]) Emit(ctx context.Context, calls []*Call[M]) error {
	if len(calls) == 0 {
		return nil
	}
	td := ptrace.NewTraces()
	Gather(calls, td)
	if err := h.set.Next(ctx, td); err != nil {
		h.set.Logger.Error("Failed to pass on held calls", zap.Int("spans", td.SpanCount()), zap.Error(err))
		return err
	}
	if pos := positions(calls); len(pos) > 0 {
		h.forget(ctx, pos)
	}
	return nil
}

// forget deletes from the storage calls let go and accepted downstream. A
// failure is counted; the calls then go on again after the next restart.
func (h *Holder[M]) forget(ctx context.Context, pos []Position) {
	h.set.Lock.Lock()
	defer h.set.Lock.Unlock()
	if h.store == nil {
		return
	}
	if err := h.store.Release(ctx, pos); err != nil {
		h.set.StorageErrors.Add(ctx, 1, h.errAttrs[OpRelease])
		h.set.Logger.Warn("Failed to forget held calls let go; they will go on again after a restart",
			zap.Int("calls", len(pos)), zap.Error(err))
	}
}

func positions[M any](calls []*Call[M]) []Position {
	var pos []Position
	for _, c := range calls {
		if c.pos.Seq != 0 {
			pos = append(pos, c.pos)
		}
	}
	return pos
}

// NotLetGoError says that shutdown ended before the held calls were let go.
type NotLetGoError struct {
	Calls int
	Err   error
}

func (e *NotLetGoError) Error() string {
	return fmt.Sprintf("%d held calls not let go: %v", e.Calls, e.Err)
}

func (e *NotLetGoError) Unwrap() error { return e.Err }

// Shutdown lets every held call go: nothing accepted is dropped. When ctx ends
// before the clock has stopped, the held calls stay held (in the storage, if
// any, for the next start) and a *NotLetGoError says how many; the storage is
// closed all the same. A batch still in flight then finds no storage: its
// calls are not forgotten and come back at the next start.
func (h *Holder[M]) Shutdown(ctx context.Context) error {
	var err error
	h.stopOnce.Do(func() {
		close(h.stop)
		if h.started {
			select {
			case <-h.stopped:
				err = h.letGo(ctx, ReasonShutdown, time.Time{}, false)
			case <-ctx.Done():
				h.set.Lock.Lock()
				held, stored := h.queue.len(), h.set.Durable
				h.set.Lock.Unlock()
				h.set.Logger.Error("Shutdown ended before the held calls were let go",
					zap.Int("calls", held), zap.Bool("stored", stored), zap.Error(ctx.Err()))
				err = &NotLetGoError{Calls: held, Err: ctx.Err()}
			}
		}
		h.set.Lock.Lock()
		store := h.store
		h.store = nil
		h.set.Lock.Unlock()
		if store != nil {
			err = errors.Join(err, store.Close(ctx))
		}
	})
	return err
}

// Close closes the storage of a holder that never started (a later step of
// the start failed).
func (h *Holder[M]) Close(ctx context.Context) {
	h.set.Lock.Lock()
	store := h.store
	h.store = nil
	h.set.Lock.Unlock()
	if store != nil {
		if err := store.Close(ctx); err != nil {
			h.set.Logger.Warn("Closing the storage of held calls", zap.Error(err))
		}
	}
}
