package hold

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/metric/noop"
	"go.uber.org/zap"
)

// span is a batch of one span of trace t with span id s.
func span(t, s byte) ptrace.Traces {
	td := ptrace.NewTraces()
	sp := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{t})
	sp.SetSpanID(pcommon.SpanID{s})
	return td
}

type finished struct {
	reason string
	spans  []byte
}

// harness is a Holder of calls whose Meta is their span id, on a fake clock.
type harness struct {
	h        *Holder[byte]
	mu       sync.Mutex
	now      time.Time
	finished []finished
	sent     [][]byte // span ids of each batch passed on
	nextErr  error
}

func newHarness(t *testing.T, wait time.Duration, maxHeld int, durable bool) *harness {
	t.Helper()
	x := &harness{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	x.h = New(Settings[byte]{
		Wait: wait, MaxHeld: maxHeld, Durable: durable, Lock: &x.mu,
		Now: func() time.Time { return x.now },
		Next: func(_ context.Context, td ptrace.Traces) error {
			if x.nextErr != nil {
				return x.nextErr
			}
			x.sent = append(x.sent, ids(td))
			return nil
		},
		Finish: func(_ context.Context, calls []*Call[byte], reason string) {
			f := finished{reason: reason}
			for _, c := range calls {
				f.spans = append(f.spans, c.Meta)
			}
			x.finished = append(x.finished, f)
		},
		Logger: zap.NewNop(), StorageErrors: noop.Int64Counter{},
	})
	return x
}

func (x *harness) hold(t, s byte) *Call[byte] {
	c := NewCall(span(t, s), s)
	x.mu.Lock()
	defer x.mu.Unlock()
	if old := x.h.Hold(c); old != nil {
		x.finished = append(x.finished, finished{reason: ReasonCapacity, spans: []byte{old.Meta}})
	}
	return c
}

func ids(td ptrace.Traces) []byte {
	var out []byte
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		out = append(out, rss.At(i).ScopeSpans().At(0).Spans().At(0).SpanID()[0])
	}
	return out
}

// TestExpiredCallsGoInDeadlineOrder: the clock lets go exactly the calls whose
// wait has run out, oldest first, finished by the caller before they go on.
func TestExpiredCallsGoInDeadlineOrder(t *testing.T) {
	x := newHarness(t, 10*time.Second, 100, false)
	x.hold(1, 1)
	x.now = x.now.Add(time.Second)
	x.hold(2, 2)
	x.now = x.now.Add(time.Second)
	x.hold(1, 3)
	x.now = x.now.Add(9 * time.Second) // 11s after the first, 10s after the second
	x.h.ReleaseExpired(context.Background())
	assert.Equal(t, []finished{{ReasonExpired, []byte{1, 2}}}, x.finished)
	assert.Equal(t, [][]byte{{1, 2}}, x.sent)
	assert.Equal(t, 1, x.h.Len())
	assert.True(t, x.h.Waiting(pcommon.TraceID{1}))
	assert.False(t, x.h.Waiting(pcommon.TraceID{2}))
}

// TestFullHoldLetsGoTheOldest: at MaxHeld, holding one more returns the
// oldest, which no longer waits.
func TestFullHoldLetsGoTheOldest(t *testing.T) {
	x := newHarness(t, time.Minute, 2, false)
	x.hold(1, 1)
	x.hold(1, 2)
	x.hold(1, 3)
	assert.Equal(t, []finished{{ReasonCapacity, []byte{1}}}, x.finished)
	assert.Equal(t, 2, x.h.Len())
	var held []byte
	for _, c := range x.h.Held(pcommon.TraceID{1}) {
		held = append(held, c.Meta)
	}
	assert.Equal(t, []byte{2, 3}, held)
}

// TestTakeAndUnhold: a call taken by the caller is skipped by the clock, and
// Unhold reports the calls of a refused batch already let go again.
func TestTakeAndUnhold(t *testing.T) {
	x := newHarness(t, time.Minute, 2, false)
	a, b := x.hold(1, 1), x.hold(2, 2)
	x.h.Take(a)
	assert.False(t, x.h.Waiting(pcommon.TraceID{1}))
	c := x.hold(3, 3)
	d := x.hold(4, 4) // lets b go: full
	assert.Equal(t, []finished{{ReasonCapacity, []byte{2}}}, x.finished)
	assert.Equal(t, 1, x.h.Unhold([]*Call[byte]{b, c, d}), "b was let go again by capacity")
	assert.Equal(t, 0, x.h.Len())
	x.now = x.now.Add(time.Hour)
	x.h.ReleaseExpired(context.Background())
	assert.Empty(t, x.sent, "nothing left to expire")
}

// recordingStorage numbers persisted calls in one entry per batch and records
// what is released.
type recordingStorage struct {
	seq      uint64
	released []Position
	fail     error
}

func (s *recordingStorage) Load(context.Context) ([]Stored, error) {
	return []Stored{{Traces: span(9, 9), Pos: Position{Seq: 7, Idx: 0}}}, nil
}

func (s *recordingStorage) Persist(_ context.Context, calls []ptrace.Traces) ([]Position, error) {
	if s.fail != nil {
		return nil, s.fail
	}
	s.seq++
	pos := make([]Position, len(calls))
	for i := range pos {
		pos[i] = Position{Seq: s.seq, Idx: uint64(i)}
	}
	return pos, nil
}

func (s *recordingStorage) Release(_ context.Context, pos []Position) error {
	s.released = append(s.released, pos...)
	return nil
}

func (s *recordingStorage) Close(context.Context) error { return nil }

// TestStoredCallsForgottenOnlyWhenAccepted: restored and persisted calls are
// released in the storage only once the next consumer accepted the batch
// that carried them on; a refused batch leaves them stored.
func TestStoredCallsForgottenOnlyWhenAccepted(t *testing.T) {
	ctx := context.Background()
	x := newHarness(t, time.Minute, 10, true)
	st := &recordingStorage{}
	var restored []byte
	n, err := x.h.Restore(ctx, st, func(c *Call[byte]) { c.Meta = c.Span().SpanID()[0]; restored = append(restored, c.Meta) })
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, []byte{9}, restored)

	a, b := x.hold(1, 1), x.hold(2, 2)
	require.NoError(t, x.h.Persist(ctx, []*Call[byte]{a, b}))
	st.fail = errors.New("disk full")
	c := x.hold(3, 3)
	require.EqualError(t, x.h.Persist(ctx, []*Call[byte]{c}), "disk full")
	x.h.Take(a)
	x.h.Take(c)

	accepting := x.h.Acknowledging(consumerFunc(func(context.Context, ptrace.Traces) error { return nil }))
	refusing := x.h.Acknowledging(consumerFunc(func(context.Context, ptrace.Traces) error { return errors.New("queue full") }))
	td := ptrace.NewTraces()
	x.h.Deliver(td, []*Call[byte]{a, c})
	require.Error(t, refusing.ConsumeTraces(ctx, td))
	assert.Empty(t, st.released, "refused: a stays stored")

	td = ptrace.NewTraces()
	x.h.Deliver(td, []*Call[byte]{a, c})
	require.NoError(t, accepting.ConsumeTraces(ctx, td))
	assert.Equal(t, []Position{{Seq: 1, Idx: 0}}, st.released, "c was never stored")

	// Shutdown lets the rest go through Next and forgets them.
	x.h.Start()
	require.NoError(t, x.h.Shutdown(ctx))
	assert.Equal(t, []finished{{ReasonShutdown, []byte{9, 2}}}, x.finished)
	assert.Equal(t, []Position{{Seq: 1, Idx: 0}, {Seq: 7, Idx: 0}, {Seq: 1, Idx: 1}}, st.released)
}

// TestShutdownPastItsContext: when ctx ends before the clock stops, the held
// calls stay held and the error says how many.
func TestShutdownPastItsContext(t *testing.T) {
	x := newHarness(t, time.Minute, 10, false)
	x.hold(1, 1)
	x.h.started = true // a clock that never stops
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := x.h.Shutdown(ctx)
	var nl *NotLetGoError
	require.ErrorAs(t, err, &nl)
	assert.Equal(t, "1 held calls not let go: context canceled", err.Error())
	assert.Empty(t, x.sent)
}

func consumerFunc(f func(context.Context, ptrace.Traces) error) consumer.Traces {
	c, _ := consumer.NewTraces(f)
	return c
}
