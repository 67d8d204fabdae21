package usage

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func fullRecord() Record {
	return Record{
		EventID: "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", Time: time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC),
		TenantID: "acme", UserID: "u", SessionID: "s", Feature: "f", ServiceName: "svc", Environment: "prod",
		Provider: "openai", Operation: "chat", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06",
		CatalogProvider: "openai", CatalogModel: "gpt-4o",
		InputTokens: 4100, OutputTokens: 730, CacheReadTokens: 1, CacheWriteTokens: 2, ReasoningTokens: 3,
		InputAudioTokens: 4, OutputAudioTokens: 5, CacheWrite1hTokens: 1,
		CostUSD: "0.01755", ReportedCostUSD: "0.0175", CostReconciliation: ReconcileDiffers, CostSource: CostSourceCatalog, RevenueUSD: "0.02106", PriceRef: "embedded#openai/gpt-4o",
		ServiceTier: "flex", Plan: "pro", TokenConvention: "inclusive",
		PricingStatus: StatusPriced, Completion: CompletionComplete, PricingDetail: "d", Billable: true, BillableReason: "default",
		TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Credits: "1.6848",
	}
}

func TestLogRecordRoundTrip(t *testing.T) {
	r := fullRecord()
	lr := plog.NewLogRecord()
	r.ToLogRecord(lr)
	assert.Equal(t, EventName, lr.EventName())
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c", lr.TraceID().String())
	assert.Equal(t, "b7ad6b7169203331", lr.SpanID().String())
	assert.Equal(t, RecordAttrs, lr.Attributes().Len(), "a full record has RecordAttrs attributes")
	got, err := FromLogRecord(lr)
	require.NoError(t, err)
	assert.Equal(t, r, got)
}

func TestEventIDIsTraceAndSpan(t *testing.T) {
	tid := pcommon.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c}
	sid := pcommon.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31}
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", EventID(tid, sid))

	// Every byte value, in both ids, is spelled as TraceID.String and
	// SpanID.String spell it.
	for b := 0; b < 256; b += 24 {
		for i := range tid {
			tid[i] = byte(b + i)
		}
		for i := range sid {
			sid[i] = byte(b + 16 + i)
		}
		assert.Equal(t, tid.String()+sid.String(), EventID(tid, sid))
	}
}

// TestFromLogRecordRejectsBadRecords: FromLogRecord refuses what does not
// decode (types); the values are ValidateRecord's (validate_test.go).
func TestFromLogRecordRejectsBadRecords(t *testing.T) {
	_, err := FromLogRecord(plog.NewLogRecord())
	assert.ErrorIs(t, err, ErrNotUsageRecord)

	for name, tc := range map[string]struct {
		mutate func(a pcommon.Map)
		want   string
	}{
		"tokens as text":   {func(a pcommon.Map) { a.PutStr(AttrOutputTokens, "7") }, "genaimeter.output_tokens: want an int, got Str"},
		"billable as text": {func(a pcommon.Map) { a.PutStr(AttrBillable, "yes") }, "genaimeter.billable: want a bool, got Str"},
	} {
		t.Run(name, func(t *testing.T) {
			r := fullRecord()
			lr := plog.NewLogRecord()
			r.ToLogRecord(lr)
			tc.mutate(lr.Attributes())
			_, err := FromLogRecord(lr)
			assert.EqualError(t, err, tc.want)
		})
	}
}

func TestCallTimeIsTheEndElseTheStart(t *testing.T) {
	s := ptrace.NewSpan()
	s.SetStartTimestamp(10)
	assert.Equal(t, pcommon.Timestamp(10), CallTime(s), "no end time: the start")
	s.SetEndTimestamp(20)
	assert.Equal(t, pcommon.Timestamp(20), CallTime(s))
}

// TestWriteToPastTheTemplateCap: once maxKeyTemplates shapes have key
// templates, a record of a new shape is written key by key, the same.
func TestWriteToPastTheTemplateCap(t *testing.T) {
	r := fullRecord()
	r.UserID, r.Feature, r.InputAudioTokens, r.Credits = "", "", 0, ""
	blank := map[string]bool{AttrUserID: true, AttrFeature: true, AttrInputAudioTokens: true, AttrCredits: true}
	var want []string
	var shape uint64 // the fields written: all but the blank ones
	for i := range logFields {
		if k := logFields[i].key; !blank[k] {
			want = append(want, k)
			shape |= 1 << i
		}
	}
	_, cached := keyTemplates.Load(shape)
	require.False(t, cached, "the shape must be new for the test to write it key by key")

	saved := keyTemplateCount.Load()
	keyTemplateCount.Store(maxKeyTemplates)
	defer keyTemplateCount.Store(saved)
	lr := plog.NewLogRecord()
	r.ToLogRecord(lr)
	var got []string
	lr.Attributes().Range(func(k string, _ pcommon.Value) bool { got = append(got, k); return true })
	assert.Equal(t, want, got)
	_, cached = keyTemplates.Load(shape)
	assert.False(t, cached, "no template is added past the cap")
	back, err := FromLogRecord(lr)
	require.NoError(t, err)
	assert.Equal(t, r, back)
}
