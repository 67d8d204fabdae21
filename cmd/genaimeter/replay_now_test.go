package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestShiftToNowKeepsDurationsAndOrder(t *testing.T) {
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	a, b := spans.AppendEmpty(), spans.AppendEmpty()
	a.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
	a.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(3 * time.Second)))
	b.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Second)))
	b.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(2 * time.Second)))
	b.Events().AppendEmpty().SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(1500 * time.Millisecond)))
	var m ptrace.JSONMarshaler
	body, err := m.MarshalTraces(td)
	require.NoError(t, err)
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	out, err := shiftToNow(body, now)
	require.NoError(t, err)
	var u ptrace.JSONUnmarshaler
	got, err := u.UnmarshalTraces(out)
	require.NoError(t, err)
	s := got.ResourceSpans().At(0).ScopeSpans().At(0).Spans()
	assert.Equal(t, now, s.At(0).EndTimestamp().AsTime())
	assert.Equal(t, now.Add(-3*time.Second), s.At(0).StartTimestamp().AsTime())
	assert.Equal(t, now.Add(-time.Second), s.At(1).EndTimestamp().AsTime())
	assert.Equal(t, now.Add(-1500*time.Millisecond), s.At(1).Events().At(0).Timestamp().AsTime())
}
