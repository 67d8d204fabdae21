package genaicostprocessor

import (
	"context"
	"encoding/binary"
	"errors"
	"maps"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

// The layout of held calls in the storage extension, as the tests read and
// write it (internal/hold/storage_extension.go).
const heldIndexKey = "held/index"

func encodeUvarints(xs []uint64) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.AppendUvarint(b, x)
	}
	return b
}

func decodeUvarints(b []byte) ([]uint64, error) {
	var out []uint64
	for len(b) > 0 {
		x, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("truncated uvarint list")
		}
		out = append(out, x)
		b = b[n:]
	}
	return out, nil
}

// memStorage is a storage.Client over a map, with transactional batches (as
// file_storage's bbolt) and an injectable failure for the next batches.
type memStorage struct {
	mu      sync.Mutex
	data    map[string][]byte
	fail    []error // errors of the next Batch calls, in order
	batches int
	closed  bool
}

func newMemStorage() *memStorage { return &memStorage{data: map[string][]byte{}} }

func (m *memStorage) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.data[key], nil
}

func (m *memStorage) Set(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data[key] = value
	return nil
}

func (m *memStorage) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.data, key)
	return nil
}

func (m *memStorage) Batch(_ context.Context, ops ...*storage.Operation) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.batches++
	if len(m.fail) > 0 {
		err := m.fail[0]
		m.fail = m.fail[1:]
		if err != nil {
			return err
		}
	}
	next := maps.Clone(m.data)
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = next[op.Key]
		case storage.Set:
			next[op.Key] = op.Value
		case storage.Delete:
			delete(next, op.Key)
		}
	}
	m.data = next
	return nil
}

func (m *memStorage) Close(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// failNext makes the next Batch calls return errs (nil: succeed).
func (m *memStorage) failNext(errs ...error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fail = errs
}

// snapshot copies the stored data: what a crash at this point leaves on disk.
func (m *memStorage) snapshot() *memStorage {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &memStorage{data: maps.Clone(m.data)}
}

func (m *memStorage) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := make([]string, 0, len(m.data))
	for k := range m.data {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (m *memStorage) uvarints(t *testing.T, key string) []uint64 {
	t.Helper()
	b, _ := m.Get(context.Background(), key)
	xs, err := decodeUvarints(b)
	require.NoError(t, err)
	return xs
}

// storedSpans lists the span ids of a stored entry, in order.
func (m *memStorage) storedSpans(t *testing.T, key string) []pcommon.SpanID {
	t.Helper()
	b, _ := m.Get(context.Background(), key)
	require.NotNil(t, b, key)
	td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(b)
	require.NoError(t, err)
	var out []pcommon.SpanID
	forEachSpan(td, func(s ptrace.Span) { out = append(out, s.SpanID()) })
	return out
}

// memStorageExt is a storage extension handing out one client.
type memStorageExt struct {
	component.StartFunc
	component.ShutdownFunc
	client *memStorage
	asked  []string // kind/id/name of each GetClient
}

func (e *memStorageExt) GetClient(_ context.Context, kind component.Kind, id component.ID, name string) (storage.Client, error) {
	e.asked = append(e.asked, kind.String()+" "+id.String()+" "+name)
	return e.client, nil
}

type nopComponent struct {
	component.StartFunc
	component.ShutdownFunc
}

type extHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.exts }

var storageID = component.MustNewID("file_storage")

// newStoringProcessor is newHoldingProcessor with attribution.ancestors.storage
// on client, built by the factory's path (createTraces wraps the next consumer).
func newStoringProcessor(t *testing.T, tel *componenttest.Telemetry, client *memStorage, wait time.Duration) (*costProcessor, processor.Traces, *consumertest.TracesSink, *memStorageExt) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = wait
	cfg.Attribution.Ancestors.Storage = &storageID
	set := metadatatest.NewSettings(tel)
	set.ID = component.NewIDWithName(metadata.Type, "held")
	sink := new(consumertest.TracesSink)
	p, err := newCostProcessor(set, cfg, sink)
	require.NoError(t, err)
	clock := &fakeClock{t: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
	p.now = clock.now
	tp, err := newTracesProcessor(context.Background(), set, cfg, p)
	require.NoError(t, err)
	ext := &memStorageExt{client: client}
	host := extHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{storageID: ext}}
	require.NoError(t, tp.Start(context.Background(), host))
	return p, tp, sink, ext
}

func parentOf(trace byte, tenant string) testSpan {
	return testSpan{trace, 1, 0, map[string]any{"tenant.id": tenant}}
}

// TestHeldCallsStoredThenForgotten follows one stored batch: written before
// ConsumeTraces returns, its done list grows as its calls go, and it is
// deleted with the last one.
func TestHeldCallsStoredThenForgotten(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	st := newMemStorage()
	_, tp, sink, ext := newStoringProcessor(t, tel, st, time.Hour)
	ctx := context.Background()
	assert.Equal(t, []string{"Processor genai_cost/held held_calls"}, ext.asked)

	// A batch that holds nothing writes nothing.
	require.NoError(t, tp.ConsumeTraces(ctx, batch(parentOf(9, "nine"))))
	assert.Equal(t, 0, st.batches)

	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 2, 1), llmCall(2, 3, 1), llmCall(3, 4, 1))))
	assert.Equal(t, []string{"held/1", "held/index"}, st.keys())
	assert.Equal(t, []pcommon.SpanID{{2}, {3}, {4}}, st.storedSpans(t, "held/1"))
	assert.Equal(t, []uint64{1}, st.uvarints(t, heldIndexKey))

	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(4, 5, 1))))
	assert.Equal(t, []string{"held/1", "held/2", "held/index"}, st.keys())
	assert.Equal(t, []uint64{1, 2}, st.uvarints(t, heldIndexKey))

	// Trace 2's parent: call 3 (index 1 of entry 1) goes on, entry 1 stays.
	require.NoError(t, tp.ConsumeTraces(ctx, batch(parentOf(2, "two"))))
	assert.Equal(t, map[pcommon.SpanID]map[string]any{{3}: {"tenant": "two", "user": nil, "feature": nil}}, meteredBySpan(sink))
	assert.Equal(t, []string{"held/1", "held/1/done", "held/2", "held/index"}, st.keys())
	assert.Equal(t, []uint64{1}, st.uvarints(t, "held/1/done"))

	// Traces 1, 3 and 4 together: both entries are deleted.
	require.NoError(t, tp.ConsumeTraces(ctx, batch(parentOf(1, "one"), parentOf(3, "three"), parentOf(4, "four"))))
	assert.Len(t, meteredBySpan(sink), 4)
	assert.Equal(t, []string{"held/index"}, st.keys())
	assert.Empty(t, st.uvarints(t, heldIndexKey))
	assert.Equal(t, 4, st.batches, "one write per batch that holds or lets go")

	require.NoError(t, tp.Shutdown(ctx))
	assert.True(t, st.closed)
	metadatatest.AssertEqualProcessorGenaiCostCallsReleased(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("release_reason", "ancestors_arrived")), Value: 4,
	}}, metricdatatest.IgnoreTimestamp())
}

// TestHeldCallsRestoredAfterCrash: the collector dies while calls are held
// (one of a stored batch already gone on); the next process holds the others
// again and meters each once, when its parent comes.
func TestHeldCallsRestoredAfterCrash(t *testing.T) {
	ctx := context.Background()
	tel1 := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel1.Shutdown(context.Background())) })
	st := newMemStorage()
	_, tp1, sink1, _ := newStoringProcessor(t, tel1, st, time.Hour)
	require.NoError(t, tp1.ConsumeTraces(ctx, batch(llmCall(1, 2, 1), llmCall(2, 3, 1))))
	require.NoError(t, tp1.ConsumeTraces(ctx, batch(llmCall(3, 4, 1))))
	require.NoError(t, tp1.ConsumeTraces(ctx, batch(parentOf(2, "two"))))
	require.Len(t, meteredBySpan(sink1), 1)
	// The crash: what is on disk now is all the next process gets. (The first
	// process is then shut down only to end its goroutines.)
	disk := st.snapshot()
	require.NoError(t, tp1.Shutdown(ctx))

	tel2 := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel2.Shutdown(context.Background())) })
	p2, tp2, sink2, _ := newStoringProcessor(t, tel2, disk, time.Hour)
	assert.Equal(t, 2, p2.held.Len(), "calls 2 and 4 are held again; call 3 went on before the crash")
	assert.Empty(t, sink2.AllTraces())
	metadatatest.AssertEqualProcessorGenaiCostCallsRestored(t, tel2, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorGenaiCostPendingCalls(t, tel2, []metricdata.DataPoint[int64]{{Value: 2}}, metricdatatest.IgnoreTimestamp())

	// A call of the new process is stored under a fresh seq.
	require.NoError(t, tp2.ConsumeTraces(ctx, batch(llmCall(5, 6, 1))))
	assert.Equal(t, []uint64{1, 2, 3}, disk.uvarints(t, heldIndexKey))

	require.NoError(t, tp2.ConsumeTraces(ctx, batch(parentOf(1, "one"), parentOf(2, "two-again"), parentOf(3, "three"), parentOf(5, "five"))))
	assert.Equal(t, map[pcommon.SpanID]map[string]any{
		{2}: {"tenant": "one", "user": nil, "feature": nil},
		{4}: {"tenant": "three", "user": nil, "feature": nil},
		{6}: {"tenant": "five", "user": nil, "feature": nil},
	}, meteredBySpan(sink2))
	assert.Equal(t, 3, sink2.SpanCount()-4, "each held call once (besides the 4 parents)")
	assert.Equal(t, []string{"held/index"}, disk.keys())
	require.NoError(t, tp2.Shutdown(ctx))
	assert.Equal(t, 3, len(meteredBySpan(sink2)), "shutdown had nothing left to let go")
}

// TestRestoredCallsGoOnWithWaitZero: calls stored by a process that held them
// go on at once when the next one starts with wait 0.
func TestRestoredCallsGoOnWithWaitZero(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	st := newMemStorage()
	_, tp1, _, _ := newStoringProcessor(t, tel, st, time.Hour)
	require.NoError(t, tp1.ConsumeTraces(ctx, batch(llmCall(1, 2, 1))))
	disk := st.snapshot()
	require.NoError(t, tp1.Shutdown(ctx))

	_, tp2, sink, _ := newStoringProcessor(t, componenttest.NewTelemetry(), disk, 0)
	require.Eventually(t, func() bool { return len(meteredBySpan(sink)) == 1 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, "unattributed", meteredBySpan(sink)[pcommon.SpanID{2}]["tenant"])
	require.Eventually(t, func() bool { return len(disk.keys()) == 1 }, 10*time.Second, 5*time.Millisecond,
		"forgotten once accepted")
	assert.Empty(t, disk.uvarints(t, heldIndexKey))
	require.NoError(t, tp2.Shutdown(ctx))
	assert.Equal(t, 1, sink.SpanCount())
}

// TestStoreFailureRefusesBatch: a batch whose held calls cannot be stored is
// refused (retryable) and its calls are not held: they come back with the
// retry, and are never let go by this attempt. A call held earlier and let go
// by that batch still goes on, and is then forgotten.
func TestStoreFailureRefusesBatch(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	st := newMemStorage()
	p, tp, sink, _ := newStoringProcessor(t, tel, st, time.Hour)
	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 2, 1))))

	st.failNext(errors.New("disk full"))
	err := tp.ConsumeTraces(ctx, batch(parentOf(1, "one"), llmCall(2, 3, 1), llmCall(3, 4, 1)))
	require.EqualError(t, err, `genai_cost: storing 2 held calls in "file_storage": disk full`)
	assert.False(t, consumererror.IsPermanent(err), "the sender retries")
	assert.Equal(t, 0, p.held.Len())
	assert.Equal(t, map[pcommon.SpanID]map[string]any{{2}: {"tenant": "one", "user": nil, "feature": nil}}, meteredBySpan(sink))
	assert.Equal(t, 1, sink.SpanCount(), "only the call held earlier went on")
	assert.Equal(t, []string{"held/index"}, st.keys(), "call 2 forgotten; nothing of the refused batch stored")

	// The retry is held and stored as usual.
	require.NoError(t, tp.ConsumeTraces(ctx, batch(parentOf(1, "one"), llmCall(2, 3, 1), llmCall(3, 4, 1))))
	assert.Equal(t, 2, p.held.Len())
	assert.Equal(t, []pcommon.SpanID{{3}, {4}}, st.storedSpans(t, "held/3"), "seq 2 was the failed write")

	require.NoError(t, tp.Shutdown(ctx))
	assert.Equal(t, 1+1+2, sink.SpanCount(), "call 2, the retried parent, calls 3 and 4 once each")
	assert.Equal(t, []string{"held/index"}, st.keys(), "let go at shutdown and forgotten")
	metadatatest.AssertEqualProcessorGenaiCostHeldStorageErrors(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("operation", "persist")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorGenaiCostCallsHeld(t, tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorGenaiCostPendingCalls(t, tel, []metricdata.DataPoint[int64]{{Value: 0}}, metricdatatest.IgnoreTimestamp())
}

// TestForgetFailureRetried: a call let go whose delete fails is counted and
// stays stored (it would go on again after a crash); the delete goes with the
// next write.
func TestForgetFailureRetried(t *testing.T) {
	ctx := context.Background()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	st := newMemStorage()
	_, tp, sink, _ := newStoringProcessor(t, tel, st, time.Hour)
	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 2, 1))))

	st.failNext(errors.New("io error"))
	require.NoError(t, tp.ConsumeTraces(ctx, batch(parentOf(1, "one"))), "the batch went on: the failure is after it")
	assert.Equal(t, "one", meteredBySpan(sink)[pcommon.SpanID{2}]["tenant"])
	assert.Equal(t, []string{"held/1", "held/index"}, st.keys())
	metadatatest.AssertEqualProcessorGenaiCostHeldStorageErrors(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("operation", "release")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp())

	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(2, 3, 1))))
	assert.Equal(t, []string{"held/2", "held/index"}, st.keys())
	assert.Equal(t, []uint64{2}, st.uvarints(t, heldIndexKey))
	require.NoError(t, tp.Shutdown(ctx))
}

// TestRefusedDownstreamStaysStored: calls let go that the next consumer
// refuses stay stored, to be held again at the next start.
func TestRefusedDownstreamStaysStored(t *testing.T) {
	ctx := context.Background()
	st := newMemStorage()
	p, tp, sink, _ := newStoringProcessor(t, componenttest.NewTelemetry(), st, time.Hour)
	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 2, 1))))
	p.next = consumertest.NewErr(errors.New("queue full"))
	require.EqualError(t, tp.Shutdown(ctx), "queue full")
	assert.Empty(t, sink.AllTraces())
	assert.Equal(t, []string{"held/1", "held/index"}, st.keys())
}

func TestStorageExtensionErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		exts    map[component.ID]component.Component
		wantErr string
	}{
		"missing": {
			exts:    map[component.ID]component.Component{},
			wantErr: `genai_cost: attribution.ancestors.storage: extension "file_storage" not found`,
		},
		"not storage": {
			exts:    map[component.ID]component.Component{storageID: nopComponent{}},
			wantErr: `genai_cost: attribution.ancestors.storage: extension "file_storage" is not a storage extension`,
		},
		"corrupt entry": {
			exts: map[component.ID]component.Component{storageID: &memStorageExt{client: &memStorage{data: map[string][]byte{
				heldIndexKey: encodeUvarints([]uint64{7}), "held/7": []byte("not proto"),
			}}}},
			wantErr: `genai_cost: attribution.ancestors.storage: held/7 in "file_storage": `,
		},
		"corrupt index": {
			exts: map[component.ID]component.Component{storageID: &memStorageExt{client: &memStorage{data: map[string][]byte{
				heldIndexKey: {0xff},
			}}}},
			wantErr: `genai_cost: attribution.ancestors.storage: held/index in "file_storage": truncated uvarint list`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Attribution.Ancestors.Storage = &storageID
			tp, err := NewFactory().CreateTraces(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), cfg, consumertest.NewNop())
			require.NoError(t, err)
			err = tp.Start(context.Background(), extHost{Host: componenttest.NewNopHost(), exts: tc.exts})
			require.ErrorContains(t, err, tc.wantErr)
			if name != "corrupt entry" {
				require.EqualError(t, err, tc.wantErr)
			}
			require.NoError(t, tp.Shutdown(context.Background()))
		})
	}
}

// TestLoadCleansUp: at start, an entry whose calls all went on (the crash came
// before its delete) is deleted, a resource without a span is skipped, and new
// entries are numbered after the highest stored seq.
func TestLoadCleansUp(t *testing.T) {
	ctx := context.Background()
	marshal := func(td ptrace.Traces) []byte {
		b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
		require.NoError(t, err)
		return b
	}
	gone := batch(llmCall(1, 2, 1))
	withEmpty := ptrace.NewTraces()
	withEmpty.ResourceSpans().AppendEmpty().Resource().Attributes().PutStr("service.name", "no-span")
	batch(llmCall(2, 3, 1)).ResourceSpans().MoveAndAppendTo(withEmpty.ResourceSpans())
	st := &memStorage{data: map[string][]byte{
		heldIndexKey: encodeUvarints([]uint64{3, 4}),
		"held/3":     marshal(gone), "held/3/done": encodeUvarints([]uint64{0}),
		"held/4": marshal(withEmpty),
	}}
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, tp, sink, _ := newStoringProcessor(t, tel, st, time.Hour)
	assert.Equal(t, 1, p.held.Len())
	assert.Equal(t, []string{"held/4", "held/index"}, st.keys())
	assert.Equal(t, []uint64{4}, st.uvarints(t, heldIndexKey))
	metadatatest.AssertEqualProcessorGenaiCostCallsRestored(t, tel, []metricdata.DataPoint[int64]{{Value: 1}}, metricdatatest.IgnoreTimestamp())

	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(5, 6, 1))))
	assert.Equal(t, []uint64{4, 5}, st.uvarints(t, heldIndexKey))
	require.NoError(t, tp.ConsumeTraces(ctx, batch(parentOf(2, "two"))))
	assert.Equal(t, map[pcommon.SpanID]map[string]any{{3}: {"tenant": "two", "user": nil, "feature": nil}}, meteredBySpan(sink))
	assert.Equal(t, []string{"held/5", "held/index"}, st.keys(), "entry 4 is done: its empty resource does not keep it")
	require.NoError(t, tp.Shutdown(ctx))
}
