package usage

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateRecordAcceptsWhatGenaimeterWrites(t *testing.T) {
	for name, r := range map[string]Record{
		"priced": fullRecord(),
		"unpriced": {EventID: "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", PricingStatus: StatusUnpriced,
			PricingDetail: "model not found", InputTokens: 10, Billable: true},
		"invalid usage": {EventID: "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", PricingStatus: StatusInvalidUsage,
			PricingDetail: "gen_ai.usage.input_tokens: token count must be >= 0, got -5", BillableReason: "invalid_usage"},
		"content id": {EventID: "noid" + "0123456789abcdef0123456789abcdef0123456789ab", PricingStatus: StatusNoUsage,
			PricingDetail: FlagInvalidID + ": the span has an empty (all-zero) trace id and span id; ..."},
		"revenue, no cost": {EventID: "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", PricingStatus: StatusUnpriced,
			RevenueUSD: "0.5", InputTokens: 10},
		"no trace context": {EventID: "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", PricingStatus: StatusNoUsage},
	} {
		assert.NoError(t, ValidateRecord(&r), name)
	}
}

// TestValidateRecordRefusesForeignRecords: the records of issue 11 item 9
// (a made-up status, an event id that is no span's, cache read above input)
// and every other rule, each with its exact reason.
func TestValidateRecordRefusesForeignRecords(t *testing.T) {
	for name, tc := range map[string]struct {
		mut  func(r *Record)
		want string
	}{
		"status free":          {func(r *Record) { r.PricingStatus = "free"; r.CostUSD = "" }, `pricing_status: must be one of priced, unpriced, no_usage, invalid_usage, got "free"`},
		"event id xyz":         {func(r *Record) { r.EventID = "xyz" }, `event_id: want 48 lowercase hex digits (trace id + span id), got "xyz"`},
		"cache read > input":   {func(r *Record) { r.CacheReadTokens = 5000 }, "cache_read_tokens: cache read 5000 + cache write 2 above input_tokens 4100 (input includes the cache tokens)"},
		"cache overflow":       {func(r *Record) { r.CacheReadTokens, r.CacheWriteTokens = 1<<62, 1<<62 }, "cache_read_tokens: cache read 4611686018427387904 + cache write 4611686018427387904 above input_tokens 4100 (input includes the cache tokens)"},
		"reasoning > output":   {func(r *Record) { r.ReasoningTokens = 731 }, "reasoning_tokens: 731 above output_tokens 730 (output includes reasoning)"},
		"no event id":          {func(r *Record) { r.EventID = "" }, "event_id: must not be empty"},
		"upper hex":            {func(r *Record) { r.EventID = "0AF7651916CD43DD8448EB211C80319CB7AD6B7169203331" }, `event_id: want 48 lowercase hex digits (trace id + span id), got "0AF7651916CD43DD8448EB211C80319CB7AD6B7169203331"`},
		"not trace + span":     {func(r *Record) { r.EventID = "1af7651916cd43dd8448eb211c80319cb7ad6b7169203331" }, `event_id: "1af7651916cd43dd8448eb211c80319cb7ad6b7169203331" is not trace_id + span_id (0af7651916cd43dd8448eb211c80319cb7ad6b7169203331)`},
		"content id unflagged": {func(r *Record) { r.EventID = "noid0123456789abcdef0123456789abcdef0123456789ab" }, `event_id: "noid0123456789abcdef0123456789abcdef0123456789ab" is derived from the call's content but pricing_detail does not flag invalid_id`},
		"bad trace id":         {func(r *Record) { r.TraceID = "zz" }, `trace_id: want 32 lowercase hex digits, got "zz"`},
		"bad span id":          {func(r *Record) { r.SpanID = "b7ad" }, `span_id: want 16 lowercase hex digits, got "b7ad"`},
		"no status":            {func(r *Record) { r.PricingStatus = ""; r.CostUSD = "" }, "pricing_status: must not be empty"},
		"priced without cost":  {func(r *Record) { r.CostUSD = "" }, "cost_usd: missing on a priced call"},
		"cost on unpriced":     {func(r *Record) { r.PricingStatus = StatusUnpriced; r.RevenueUSD = "" }, `cost_usd: cost "0.01755" on a call with status "unpriced"`},
		"billable invalid": {func(r *Record) { r.PricingStatus = StatusInvalidUsage; r.CostUSD = "" },
			"billable: a call with status \"invalid_usage\" is never billable\nrevenue_usd: revenue \"0.02106\" on a call with status \"invalid_usage\"\ncredits: credits \"1.6848\" on a call with status \"invalid_usage\""},
		"negative credits":  {func(r *Record) { r.Credits = "-2" }, `credits: want a non-negative decimal in plain notation, got "-2"`},
		"negative tokens":   {func(r *Record) { r.OutputTokens = -1; r.ReasoningTokens = 0 }, "output_tokens: must be >= 0, got -1"},
		"negative cost":     {func(r *Record) { r.CostUSD = "-0.1" }, `cost_usd: want a non-negative decimal in plain notation, got "-0.1"`},
		"nan cost":          {func(r *Record) { r.CostUSD = "NaN" }, `cost_usd: want a non-negative decimal in plain notation, got "NaN"`},
		"exponent cost":     {func(r *Record) { r.CostUSD = "1e999999999" }, `cost_usd: want a non-negative decimal in plain notation, got "1e999999999"`},
		"negative revenue":  {func(r *Record) { r.RevenueUSD = "-1" }, `revenue_usd: want a non-negative decimal in plain notation, got "-1"`},
		"reported not num":  {func(r *Record) { r.ReportedCostUSD = "lots" }, `reported_cost_usd: want a non-negative decimal in plain notation, got "lots"`},
		"reported infinity": {func(r *Record) { r.ReportedCostUSD = "Infinity" }, `reported_cost_usd: want a non-negative decimal in plain notation, got "Infinity"`},
		"audio above input": {func(r *Record) { r.InputAudioTokens = 4101 }, "input_audio_tokens: 4101 above input_tokens 4100 (a part of it)"},
		"1h above write":    {func(r *Record) { r.CacheWrite1hTokens = 3 }, "cache_write_1h_tokens: 3 above cache_write_tokens 2 (a part of it)"},
		"completion bogus":  {func(r *Record) { r.Completion = "done" }, `completion: must be one of complete, stopped, error, unknown, got "done"`},
		"source bogus":      {func(r *Record) { r.CostSource = "guess" }, `cost_source: must be one of catalog, reported, got "guess"`},
		"year 10000":        {func(r *Record) { r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "time: year 10000 out of range [0, 9999]"},
	} {
		r := fullRecord()
		tc.mut(&r)
		err := ValidateRecord(&r)
		require.ErrorIs(t, err, ErrInvalidRecord, name)
		assert.EqualError(t, err, "invalid usage record: "+tc.want, name)
	}
}

func TestValidateRecordClipsHostileValues(t *testing.T) {
	r := fullRecord()
	r.PricingStatus = strings.Repeat("x", 10000)
	r.CostUSD = ""
	err := ValidateRecord(&r)
	require.Error(t, err)
	assert.Less(t, len(err.Error()), 250, "a 10 kB status is quoted clipped")
}

func TestAddCountIsExactOrRefuses(t *testing.T) {
	var s int64
	require.NoError(t, AddCount(&s, math.MaxInt64-1))
	require.NoError(t, AddCount(&s, 1))
	assert.Equal(t, int64(math.MaxInt64), s)
	err := AddCount(&s, 1)
	require.ErrorIs(t, err, ErrCountOverflow)
	assert.EqualError(t, err, "token count sum overflows int64: 9223372036854775807 + 1")
	assert.Equal(t, int64(math.MaxInt64), s, "a refused add leaves the sum")
	assert.EqualError(t, AddCount(&s, -1), "token count -1: must be >= 0")
}

// BenchmarkValidateRecord: the check every sink and genai_billing run on
// every record.
func BenchmarkValidateRecord(b *testing.B) {
	r := fullRecord()
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateRecord(&r); err != nil {
			b.Fatal(err)
		}
	}
}
