package usage

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.opentelemetry.io/collector/pdata/plog"
)

// FuzzValidateRecord: ValidateRecord must not panic, its message stays short
// whatever the values (it goes to a dead-letter line and a log line), and a
// record it accepts keeps every documented guarantee — checked here again
// independently — and reads back equal, and valid, from the log record the
// connector would write. Time is what an OTLP timestamp can carry.
func FuzzValidateRecord(f *testing.F) {
	tid, sid := "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	f.Add(tid+sid, tid, sid, StatusPriced, "0.000135", "", "", "", "complete", int64(500), int64(100), int64(200), int64(0), int64(20), int64(0), int64(0), int64(0), true, uint64(1_750_000_000_000_000_000))
	f.Add(tid+sid, "", "", StatusUnpriced, "", "1.5", "0.01", `model "x" not found`, "", int64(7), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), false, uint64(1))
	f.Add(tid+sid, tid, sid, StatusInvalidUsage, "", "", "", "input_tokens: negative", "", int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), false, uint64(0))
	f.Add("zzz", "A", "B", "free", "-1", "1e3", "NaN", "", "maybe", int64(-1), int64(math.MaxInt64), int64(math.MaxInt64), int64(1), int64(2), int64(3), int64(4), int64(5), true, uint64(math.MaxUint64))
	f.Fuzz(func(t *testing.T, eventID, traceID, spanID, status, cost, revenue, reported, detail, completion string,
		in, out, cacheRead, cacheWrite, reasoning, inAudio, outAudio, cw1h int64, billable bool, ns uint64) {
		r := Record{EventID: eventID, TraceID: traceID, SpanID: spanID, PricingStatus: status, CostUSD: cost,
			RevenueUSD: revenue, ReportedCostUSD: reported, PricingDetail: detail, Completion: completion,
			InputTokens: in, OutputTokens: out, CacheReadTokens: cacheRead, CacheWriteTokens: cacheWrite,
			ReasoningTokens: reasoning, InputAudioTokens: inAudio, OutputAudioTokens: outAudio, CacheWrite1hTokens: cw1h,
			Billable: billable, Time: time.Unix(0, int64(ns&math.MaxInt64)).UTC(), TenantID: "acme"}
		err := ValidateRecord(&r)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("error %v is not ErrInvalidRecord", err)
			}
			if n := len(err.Error()); n > 4096 {
				t.Fatalf("error of %d bytes: the hostile values are not clipped", n)
			}
			return
		}
		checkGuarantees(t, &r)
		lr := plog.NewLogRecord()
		r.ToLogRecord(lr)
		back, err := FromLogRecord(lr)
		if err != nil {
			t.Fatalf("a valid record does not read back: %v", err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("read back differs:\n%+v\n%+v", r, back)
		}
		if err := ValidateRecord(&back); err != nil {
			t.Fatalf("read back invalid: %v", err)
		}
	})
}

func checkGuarantees(t *testing.T, r *Record) {
	t.Helper()
	if !slices.Contains(Statuses, r.PricingStatus) {
		t.Fatalf("status %q accepted", r.PricingStatus)
	}
	if (r.PricingStatus == StatusPriced) != (r.CostUSD != "") {
		t.Fatalf("status %q with cost %q accepted", r.PricingStatus, r.CostUSD)
	}
	if r.PricingStatus == StatusInvalidUsage && (r.Billable || r.RevenueUSD != "") {
		t.Fatalf("invalid usage billable %v revenue %q accepted", r.Billable, r.RevenueUSD)
	}
	for _, n := range []int64{r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, r.ReasoningTokens,
		r.InputAudioTokens, r.OutputAudioTokens, r.CacheWrite1hTokens} {
		if n < 0 {
			t.Fatalf("negative count accepted: %+v", r)
		}
	}
	if r.CacheReadTokens > r.InputTokens-r.CacheWriteTokens || r.ReasoningTokens > r.OutputTokens {
		t.Fatalf("cache above input or reasoning above output accepted: %+v", r)
	}
	for _, a := range []string{r.CostUSD, r.RevenueUSD, r.ReportedCostUSD} {
		if a == "" {
			continue
		}
		d, _, err := apd.NewFromString(a)
		if err != nil || d.Form != apd.Finite || d.Negative {
			t.Fatalf("amount %q accepted", a)
		}
	}
	if len(r.EventID) != 48 && !IsContentEventID(r.EventID) {
		t.Fatalf("event id %q accepted", r.EventID)
	}
}
