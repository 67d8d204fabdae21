package main

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// shiftToNow moves every span of an OTLP/JSON export request (and its
// events) by the same amount, so that the latest span ends at now: captured
// calls then land in the current billing period, in their original order.
func shiftToNow(body []byte, now time.Time) ([]byte, error) {
	var u ptrace.JSONUnmarshaler
	td, err := u.UnmarshalTraces(body)
	if err != nil {
		return nil, err
	}
	var latest pcommon.Timestamp
	forEachSpan(td, func(s ptrace.Span) {
		latest = max(latest, s.EndTimestamp(), s.StartTimestamp())
	})
	if latest == 0 {
		return body, nil
	}
	d := pcommon.NewTimestampFromTime(now) - latest
	move := func(ts pcommon.Timestamp) pcommon.Timestamp {
		if ts == 0 {
			return 0
		}
		return ts + d
	}
	forEachSpan(td, func(s ptrace.Span) {
		s.SetStartTimestamp(move(s.StartTimestamp()))
		s.SetEndTimestamp(move(s.EndTimestamp()))
		for i := 0; i < s.Events().Len(); i++ {
			e := s.Events().At(i)
			e.SetTimestamp(move(e.Timestamp()))
		}
	})
	var m ptrace.JSONMarshaler
	return m.MarshalTraces(td)
}

func forEachSpan(td ptrace.Traces, f func(ptrace.Span)) {
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		ss := td.ResourceSpans().At(i).ScopeSpans()
		for j := 0; j < ss.Len(); j++ {
			spans := ss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				f(spans.At(k))
			}
		}
	}
}
