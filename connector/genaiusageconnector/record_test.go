package genaiusageconnector

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/internal/usage/usagetest"
)

// meteredSpan is a span carrying every OnSpan field of r as the processor
// writes it, with r's ids, time and resource.
func meteredSpan(r *usage.Record) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", r.ServiceName)
	rs.Resource().Attributes().PutStr("deployment.environment.name", r.Environment)
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.Attributes().PutStr("gen_ai.operation.name", "chat")
	var tid pcommon.TraceID
	var sid pcommon.SpanID
	copy(tid[:], mustHex(r.TraceID))
	copy(sid[:], mustHex(r.SpanID))
	s.SetTraceID(tid)
	s.SetSpanID(sid)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(r.Time.Add(-1e9)))
	s.SetEndTimestamp(pcommon.NewTimestampFromTime(r.Time))
	for i := range usage.Fields() {
		f := &usage.Fields()[i]
		if !f.OnSpan {
			continue
		}
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			s.Attributes().PutStr(f.Key, *f.Str(r))
		case usage.KindCount:
			s.Attributes().PutInt(f.Key, *f.Int(r))
		case usage.KindFlag:
			s.Attributes().PutBool(f.Key, *f.Bool(r))
		}
	}
	return td
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		b[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return b
}

func unhex(c byte) byte {
	if c >= 'a' {
		return c - 'a' + 10
	}
	return c - '0'
}

func consumeLogs(t *testing.T, td ptrace.Traces) plog.LogRecordSlice {
	t.Helper()
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateTracesToLogs(context.Background(), connectortest.NewNopSettings(metadata.Type), createDefaultConfig(), sink)
	require.NoError(t, err)
	require.NoError(t, c.ConsumeTraces(context.Background(), td))
	require.Len(t, sink.AllLogs(), 1)
	return sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
}

// TestEveryFieldReachesTheLogRecord: a span with every field the processor
// writes gives the full record back (usage.FromLogRecord), the identity, time
// and resource fields taken from the span: no field of usage.Fields is lost
// between the span and the ledger.
func TestEveryFieldReachesTheLogRecord(t *testing.T) {
	full := usagetest.Full()
	lrs := consumeLogs(t, meteredSpan(&full))
	require.Equal(t, 1, lrs.Len())
	got, err := usage.FromLogRecord(lrs.At(0))
	require.NoError(t, err)
	assert.Equal(t, full, got)
	assert.Equal(t, usage.RecordAttrs, lrs.At(0).Attributes().Len())
}

// TestUntakenAttributesGoOnAsTheyAre: a genaimeter.* attribute of the wrong
// type, or one that is no field of the record, reaches the log record as it
// is, so that the ledger refuses the record with the reason rather than
// storing it with the field dropped (a silent 0).
func TestUntakenAttributesGoOnAsTheyAre(t *testing.T) {
	full := usagetest.Full()
	td := meteredSpan(&full)
	a := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes()
	a.PutStr(usage.AttrOutputTokens, "730")
	a.PutStr("genaimeter.custom", "kept")
	lrs := consumeLogs(t, td)
	v, ok := lrs.At(0).Attributes().Get("genaimeter.custom")
	require.True(t, ok)
	assert.Equal(t, "kept", v.Str())
	_, err := usage.FromLogRecord(lrs.At(0))
	assert.EqualError(t, err, "genaimeter.output_tokens: want an int, got Str")
}

// TestExemplarTimeIsTheCallTime: an exemplar carries the call's time by the
// one rule (usage.CallTime): the end, else the start of a span without one.
func TestExemplarTimeIsTheCallTime(t *testing.T) {
	h := newMetricsHarness(t, createDefaultConfig().(*Config))
	td := ptrace.NewTraces()
	s := call(td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans(), 1, "tenant-a", "gpt-4o", "0.001")
	s.SetEndTimestamp(0)
	s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(-3e9)))
	h.consume(t, td)
	require.NoError(t, h.c.export(context.Background()))
	require.Len(t, h.sink.AllMetrics(), 1)
	m := h.sink.AllMetrics()[0].ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0)
	require.Equal(t, 1, m.Sum().DataPoints().At(0).Exemplars().Len())
	assert.Equal(t, pcommon.NewTimestampFromTime(t0.Add(-3e9)), m.Sum().DataPoints().At(0).Exemplars().At(0).Timestamp())
}

// TestLogRecordIsToLogRecords: the connector writes a span's record exactly
// as usage.Record.ToLogRecord writes the record it reads back: the same
// event name, time, trace context and attributes in the same order, for a
// record with every field and for one with only the required ones (the
// fields written only when set are then absent from both).
func TestLogRecordIsToLogRecords(t *testing.T) {
	full := usagetest.Full()
	sparse := full
	for i := range usage.Fields() {
		f := &usage.Fields()[i]
		if f.Required || f.Kind == usage.KindTime {
			continue
		}
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			*f.Str(&sparse) = ""
		case usage.KindCount:
			*f.Int(&sparse) = 0
		case usage.KindFlag:
			*f.Bool(&sparse) = false
		}
	}
	for name, r := range map[string]usage.Record{"full": full, "sparse": sparse} {
		t.Run(name, func(t *testing.T) {
			got := consumeLogs(t, meteredSpan(&r)).At(0)
			back, err := usage.FromLogRecord(got)
			require.NoError(t, err)
			want := plog.NewLogRecord()
			back.ToLogRecord(want)
			assert.Equal(t, want.EventName(), got.EventName())
			assert.Equal(t, want.Timestamp(), got.Timestamp())
			assert.Equal(t, want.TraceID(), got.TraceID())
			assert.Equal(t, want.SpanID(), got.SpanID())
			assert.Equal(t, attrList(want.Attributes()), attrList(got.Attributes()))
		})
	}
}

// attrList is a map's attributes in order, as key=value text.
func attrList(m pcommon.Map) []string {
	var out []string
	m.Range(func(k string, v pcommon.Value) bool {
		out = append(out, k+"="+v.Type().String()+":"+v.AsString())
		return true
	})
	return out
}
