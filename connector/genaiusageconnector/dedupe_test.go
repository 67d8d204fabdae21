package genaiusageconnector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

func key(i byte) eventKey { return eventKey{0: i, 23: 1} }

func TestDedupeWindowExpires(t *testing.T) {
	d := newDedupe(DedupeConfig{Window: 10 * time.Second, MaxEntries: 10})
	sec := int64(time.Second)
	dup, ev := d.add(key(1), 0)
	assert.False(t, dup)
	assert.Zero(t, ev)
	dup, _ = d.add(key(1), 9*sec) // inside the window: a duplicate
	assert.True(t, dup)
	dup, _ = d.add(key(2), 5*sec)
	assert.False(t, dup)
	// 10s after its first sighting key 1 has expired (the window does not
	// slide on duplicates), key 2 has not.
	dup, _ = d.add(key(1), 10*sec)
	assert.False(t, dup)
	assert.Equal(t, 2, d.len())
	dup, _ = d.add(key(2), 14*sec)
	assert.True(t, dup)
	dup, _ = d.add(key(2), 15*sec)
	assert.False(t, dup)
	// Only the live entries remain: key 1 (at 10s) and key 2 (at 15s).
	assert.Equal(t, 2, d.len())
	assert.Equal(t, map[eventKey]int64{key(1): 10 * sec, key(2): 15 * sec}, d.seen)
}

func TestDedupeMaxEntriesEvictsOldestAndCounts(t *testing.T) {
	d := newDedupe(DedupeConfig{Window: time.Hour, MaxEntries: 3})
	for i := byte(1); i <= 3; i++ {
		dup, ev := d.add(key(i), int64(i))
		require.False(t, dup)
		require.Zero(t, ev)
	}
	dup, ev := d.add(key(4), 4) // full: key 1 is pushed out early
	assert.False(t, dup)
	assert.Equal(t, 1, ev)
	assert.Equal(t, 3, d.len())
	dup, _ = d.add(key(1), 5) // so its duplicate passes: the documented cost of the bound
	assert.False(t, dup)
	dup, _ = d.add(key(4), 6)
	assert.True(t, dup)
	assert.Equal(t, 3, d.len())
}

func TestDedupeForget(t *testing.T) {
	d := newDedupe(DedupeConfig{Window: time.Hour, MaxEntries: 2})
	d.add(key(1), 1)
	d.forget(key(1), 1)
	dup, _ := d.add(key(1), 2) // a retry of an undelivered call is not a duplicate
	assert.False(t, dup)
	// The set is full (the forgotten slot and key 1 at 2): the forgotten slot
	// goes first, without counting an eviction, and the live entry of key 1
	// survives it.
	dup, ev := d.add(key(2), 3)
	assert.False(t, dup)
	assert.Zero(t, ev)
	dup, _ = d.add(key(1), 4)
	assert.True(t, dup)
	assert.Equal(t, map[eventKey]int64{key(1): 2, key(2): 3}, d.seen)
}

func TestDedupeOff(t *testing.T) {
	d := newDedupe(DedupeConfig{})
	for range 3 {
		dup, _ := d.add(key(1), 1)
		assert.False(t, dup)
	}
	assert.Zero(t, d.len())
}

// meteredTraces is one resource with the given metered spans (ids from n).
func meteredTraces(ids ...byte) ptrace.Traces {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for _, id := range ids {
		s := spans.AppendEmpty()
		s.SetTraceID([16]byte{0: id})
		s.SetSpanID([8]byte{7: id})
		s.Attributes().PutStr(usage.AttrTenantID, "t")
		s.Attributes().PutStr(usage.AttrPricingStatus, usage.StatusPriced)
		s.Attributes().PutStr(usage.AttrCostUSD, "0.1")
	}
	return td
}

// TestLogsDuplicatesSuppressed: a span delivered twice (an exporter retry)
// yields one record, and the suppression is counted.
func TestLogsDuplicatesSuppressed(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateTracesToLogs(context.Background(), metadatatest.NewSettings(tel), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, c.ConsumeTraces(context.Background(), meteredTraces(1, 2)))
	require.NoError(t, c.ConsumeTraces(context.Background(), meteredTraces(2, 3, 3)))
	require.NoError(t, c.ConsumeTraces(context.Background(), meteredTraces(1)))
	require.Len(t, sink.AllLogs(), 2)
	assert.Equal(t, 2, sink.AllLogs()[0].LogRecordCount())
	assert.Equal(t, 1, sink.AllLogs()[1].LogRecordCount())
	got, _ := sink.AllLogs()[1].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Attributes().Get(usage.AttrEventID)
	assert.Equal(t, "03000000000000000000000000000000"+"0000000000000003", got.Str())
	metadatatest.AssertEqualConnectorGenaiUsageDuplicatesSuppressed(t, tel, []metricdata.DataPoint[int64]{
		{Value: 3, Attributes: attribute.NewSet(attribute.String("signal", "logs"))},
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualConnectorGenaiUsageRecords(t, tel, []metricdata.DataPoint[int64]{{Value: 3}}, metricdatatest.IgnoreTimestamp())
	require.NoError(t, c.Shutdown(context.Background()))
}

// TestLogsUndeliveredAreNotDuplicates: when the next consumer refuses a batch,
// the sender retries it, and the retry must get through.
func TestLogsUndeliveredAreNotDuplicates(t *testing.T) {
	sink := new(consumertest.LogsSink)
	fail := true
	next, err := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		if fail {
			return errors.New("queue full")
		}
		return sink.ConsumeLogs(ctx, ld)
	})
	require.NoError(t, err)
	c, err := NewFactory().CreateTracesToLogs(context.Background(), metadatatest.NewSettings(componenttest.NewTelemetry()), createDefaultConfig(), next)
	require.NoError(t, err)
	require.EqualError(t, c.ConsumeTraces(context.Background(), meteredTraces(1, 2)), "queue full")
	fail = false
	require.NoError(t, c.ConsumeTraces(context.Background(), meteredTraces(1, 2)))
	require.Len(t, sink.AllLogs(), 1)
	assert.Equal(t, 2, sink.AllLogs()[0].LogRecordCount())
	require.NoError(t, c.Shutdown(context.Background()))
}
