package usage

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ToLogRecord writes r into lr: the record's fields become attributes under the
// genaimeter. prefix, the call's time becomes the timestamp and the span identity
// the log record's trace context, so a record can be followed back to its trace.
func (r *Record) ToLogRecord(lr plog.LogRecord) {
	lr.SetEventName(EventName)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(r.Time))
	if tid, ok := parseTraceID(r.TraceID); ok {
		lr.SetTraceID(tid)
	}
	if sid, ok := parseSpanID(r.SpanID); ok {
		lr.SetSpanID(sid)
	}
	a := lr.Attributes()
	a.EnsureCapacity(RecordAttrs)
	a.PutStr(AttrEventID, r.EventID)
	a.PutStr(AttrTenantID, r.TenantID)
	putNonEmpty(a, AttrUserID, r.UserID)
	putNonEmpty(a, AttrSessionID, r.SessionID)
	putNonEmpty(a, AttrFeature, r.Feature)
	putNonEmpty(a, AttrServiceName, r.ServiceName)
	putNonEmpty(a, AttrEnvironment, r.Environment)
	putNonEmpty(a, AttrProvider, r.Provider)
	putNonEmpty(a, AttrOperation, r.Operation)
	putNonEmpty(a, AttrRequestModel, r.RequestModel)
	putNonEmpty(a, AttrResponseModel, r.ResponseModel)
	putNonEmpty(a, AttrCatalogProvider, r.CatalogProvider)
	putNonEmpty(a, AttrCatalogModel, r.CatalogModel)
	a.PutInt(AttrInputTokens, r.InputTokens)
	a.PutInt(AttrOutputTokens, r.OutputTokens)
	a.PutInt(AttrCacheReadTokens, r.CacheReadTokens)
	a.PutInt(AttrCacheWriteTokens, r.CacheWriteTokens)
	a.PutInt(AttrReasoningTokens, r.ReasoningTokens)
	a.PutInt(AttrInputAudioTokens, r.InputAudioTokens)
	a.PutInt(AttrOutputAudioTokens, r.OutputAudioTokens)
	a.PutInt(AttrCacheWrite1hTokens, r.CacheWrite1hTokens)
	putNonEmpty(a, AttrCostUSD, r.CostUSD)
	putNonEmpty(a, AttrReportedCostUSD, r.ReportedCostUSD)
	putNonEmpty(a, AttrCostReconciliation, r.CostReconciliation)
	putNonEmpty(a, AttrCostSource, r.CostSource)
	putNonEmpty(a, AttrRevenueUSD, r.RevenueUSD)
	putNonEmpty(a, AttrPriceRef, r.PriceRef)
	putNonEmpty(a, AttrServiceTier, r.ServiceTier)
	putNonEmpty(a, AttrPlan, r.Plan)
	putNonEmpty(a, AttrTokenConvention, r.TokenConvention)
	a.PutStr(AttrPricingStatus, r.PricingStatus)
	putNonEmpty(a, AttrCompletion, r.Completion)
	putNonEmpty(a, AttrPricingDetail, r.PricingDetail)
	a.PutBool(AttrBillable, r.Billable)
	putNonEmpty(a, AttrBillableReason, r.BillableReason)
	a.PutStr(AttrTraceID, r.TraceID)
	a.PutStr(AttrSpanID, r.SpanID)
}

func putNonEmpty(a pcommon.Map, k, v string) {
	if v != "" {
		a.PutStr(k, v)
	}
}

// ErrNotUsageRecord is returned by FromLogRecord for a log record that is not a
// usage record (it has no event id).
var ErrNotUsageRecord = errors.New("not a genaimeter usage record: missing " + AttrEventID)

// FromLogRecord reads a usage record back from a log record written by
// ToLogRecord. It fails on a record without an event id or with a field of the
// wrong type, so that the exporter can refuse it as bad data instead of storing
// a wrong row. It does not check the values: callers then call ValidateRecord.
func FromLogRecord(lr plog.LogRecord) (Record, error) {
	a := lr.Attributes()
	var r Record
	var errs []error
	str := func(k string) string {
		v, ok := a.Get(k)
		if !ok {
			return ""
		}
		if v.Type() != pcommon.ValueTypeStr {
			errs = append(errs, fmt.Errorf("%s: want a string, got %s", k, v.Type()))
			return ""
		}
		return v.Str()
	}
	num := func(k string) int64 {
		v, ok := a.Get(k)
		if !ok {
			return 0
		}
		if v.Type() != pcommon.ValueTypeInt {
			errs = append(errs, fmt.Errorf("%s: want an int, got %s", k, v.Type()))
			return 0
		}
		return v.Int()
	}
	r.EventID = str(AttrEventID)
	if r.EventID == "" && len(errs) == 0 {
		return r, ErrNotUsageRecord
	}
	r.Time = lr.Timestamp().AsTime().UTC()
	r.TenantID = str(AttrTenantID)
	r.UserID = str(AttrUserID)
	r.SessionID = str(AttrSessionID)
	r.Feature = str(AttrFeature)
	r.ServiceName = str(AttrServiceName)
	r.Environment = str(AttrEnvironment)
	r.Provider = str(AttrProvider)
	r.Operation = str(AttrOperation)
	r.RequestModel = str(AttrRequestModel)
	r.ResponseModel = str(AttrResponseModel)
	r.CatalogProvider = str(AttrCatalogProvider)
	r.CatalogModel = str(AttrCatalogModel)
	r.InputTokens = num(AttrInputTokens)
	r.OutputTokens = num(AttrOutputTokens)
	r.CacheReadTokens = num(AttrCacheReadTokens)
	r.CacheWriteTokens = num(AttrCacheWriteTokens)
	r.ReasoningTokens = num(AttrReasoningTokens)
	r.InputAudioTokens = num(AttrInputAudioTokens)
	r.OutputAudioTokens = num(AttrOutputAudioTokens)
	r.CacheWrite1hTokens = num(AttrCacheWrite1hTokens)
	r.CostUSD = str(AttrCostUSD)
	r.ReportedCostUSD = str(AttrReportedCostUSD)
	r.CostReconciliation = str(AttrCostReconciliation)
	r.CostSource = str(AttrCostSource)
	r.RevenueUSD = str(AttrRevenueUSD)
	r.PriceRef = str(AttrPriceRef)
	r.ServiceTier = str(AttrServiceTier)
	r.Plan = str(AttrPlan)
	r.TokenConvention = str(AttrTokenConvention)
	r.PricingStatus = str(AttrPricingStatus)
	r.Completion = str(AttrCompletion)
	r.PricingDetail = str(AttrPricingDetail)
	if v, ok := a.Get(AttrBillable); ok {
		if v.Type() != pcommon.ValueTypeBool {
			errs = append(errs, fmt.Errorf("%s: want a bool, got %s", AttrBillable, v.Type()))
		}
		r.Billable = v.Bool()
	}
	r.BillableReason = str(AttrBillableReason)
	r.TraceID = str(AttrTraceID)
	r.SpanID = str(AttrSpanID)
	return r, errors.Join(errs...)
}

func parseTraceID(s string) (pcommon.TraceID, bool) {
	var id pcommon.TraceID
	if len(s) != 32 {
		return id, false
	}
	if _, err := hexDecode(id[:], s); err != nil {
		return id, false
	}
	return id, true
}

func parseSpanID(s string) (pcommon.SpanID, bool) {
	var id pcommon.SpanID
	if len(s) != 16 {
		return id, false
	}
	if _, err := hexDecode(id[:], s); err != nil {
		return id, false
	}
	return id, true
}
