package genaiusageconnector

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// idlessCalls builds 13 metered calls without usable span ids (issue 11
// item 2): 5 with empty (all-zero) trace and span ids, 4 with a real trace id
// and a zero span id, 4 with a zero trace id and a real span id. They differ
// in their times, as different calls do.
func idlessCalls() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "chat")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i := range 13 {
		s := spans.AppendEmpty()
		s.SetName("chat gpt-4o")
		switch {
		case i >= 9:
			s.SetSpanID(pcommon.SpanID{0xb7, byte(i)})
		case i >= 5:
			s.SetTraceID(pcommon.TraceID{0x0a, 0xf7})
		}
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(time.Duration(i)*time.Second + 800*time.Millisecond)))
		a := s.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutInt("gen_ai.usage.input_tokens", 1000)
		a.PutStr(usage.AttrTenantID, "acme")
		a.PutInt(usage.AttrInputTokens, 1000)
		a.PutStr(usage.AttrCostUSD, "0.0025")
		a.PutStr(usage.AttrPricingStatus, usage.StatusPriced)
		a.PutBool(usage.AttrBillable, true)
	}
	return td
}

// TestCallsWithoutSpanIDsAreMeteredOnceEach: 13 calls without usable ids
// become 13 records (before: 2, and 11 "duplicates"), each with an event id
// derived from its content and flagged invalid_id; each is a valid usage
// record; the same batch again (a retry) is suppressed as duplicates.
func TestCallsWithoutSpanIDsAreMeteredOnceEach(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	sink := new(consumertest.LogsSink)
	c, err := NewFactory().CreateTracesToLogs(context.Background(), metadatatest.NewSettings(tel), createDefaultConfig(), sink)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, c.ConsumeTraces(ctx, idlessCalls()))
	require.Len(t, sink.AllLogs(), 1)
	ld := sink.AllLogs()[0]
	require.Equal(t, 13, ld.LogRecordCount())

	ids := map[string]bool{}
	lrs := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	for i := range lrs.Len() {
		r, err := usage.FromLogRecord(lrs.At(i))
		require.NoError(t, err)
		require.NoError(t, usage.ValidateRecord(&r))
		assert.True(t, usage.IsContentEventID(r.EventID), r.EventID)
		assert.True(t, strings.HasPrefix(r.PricingDetail, "invalid_id: the span has an empty (all-zero) "), r.PricingDetail)
		assert.True(t, strings.HasSuffix(r.PricingDetail, "; its event id is derived from the call's content"), r.PricingDetail)
		ids[r.EventID] = true
	}
	assert.Len(t, ids, 13, "13 calls, 13 event ids")
	first := lrs.At(0).Attributes().AsRaw()
	assert.Equal(t, "", first[usage.AttrTraceID])
	assert.Equal(t, "", first[usage.AttrSpanID])
	assert.Equal(t, "invalid_id: the span has an empty (all-zero) trace id and span id; its event id is derived from the call's content",
		first[usage.AttrPricingDetail])
	sixth := lrs.At(5).Attributes().AsRaw()
	assert.Equal(t, "0af70000000000000000000000000000", sixth[usage.AttrTraceID])
	assert.Equal(t, "invalid_id: the span has an empty (all-zero) span id; its event id is derived from the call's content",
		sixth[usage.AttrPricingDetail])

	// The same calls again (a client retry): the same ids, suppressed.
	require.NoError(t, c.ConsumeTraces(ctx, idlessCalls()))
	assert.Len(t, sink.AllLogs(), 1)
	metadatatest.AssertEqualConnectorGenaiUsageDuplicatesSuppressed(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.String("signal", "logs")), Value: 13,
	}}, metricdatatest.IgnoreTimestamp())

	// Deterministic: the same content gives the same id, however the
	// attributes are ordered.
	td := idlessCalls()
	s := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	raw := s.Attributes().AsRaw()
	s.Attributes().Clear()
	for _, k := range []string{usage.AttrBillable, usage.AttrPricingStatus, usage.AttrCostUSD, usage.AttrInputTokens, usage.AttrTenantID, "gen_ai.usage.input_tokens", "gen_ai.operation.name"} {
		require.NoError(t, s.Attributes().PutEmpty(k).FromRaw(raw[k]))
	}
	_, id := keyOf(s, td.ResourceSpans().At(0).Resource())
	assert.Equal(t, plogEventID(lrs.At(0)), id)
}

func plogEventID(lr plog.LogRecord) string {
	v, _ := lr.Attributes().Get(usage.AttrEventID)
	return v.Str()
}

// TestMetricsTokenSumsNeverWrap (issue 11 item 3): two calls of 2^63-1
// output tokens once made the counter -2. The second is now left out of the
// sum and counted as invalid; the counter stays exact.
func TestMetricsTokenSumsNeverWrap(t *testing.T) {
	h := newMetricsHarness(t, createDefaultConfig().(*Config))
	td := ptrace.NewTraces()
	spans := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
	for i := range 2 {
		s := call(spans, i+1, "A", "m", "1")
		s.Attributes().PutInt(usage.AttrOutputTokens, math.MaxInt64)
	}
	h.consume(t, td)
	require.NoError(t, h.c.export(context.Background()))
	got := points(t, h.sink.AllMetrics()[0], dimTenant)
	assert.Equal(t, float64(math.MaxInt64), got["genaimeter.usage.output_tokens"]["A"])
	assert.Equal(t, float64(20), got["genaimeter.usage.input_tokens"]["A"])
	metadatatest.AssertEqualConnectorGenaiUsageMetricInvalidValues(t, h.tel, []metricdata.DataPoint[int64]{
		{Value: 1, Attributes: attribute.NewSet(attribute.String("field", "output_tokens"))},
	}, metricdatatest.IgnoreTimestamp())
}
