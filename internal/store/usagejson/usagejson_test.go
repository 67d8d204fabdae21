package usagejson

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/internal/usage/usagetest"
)

func priced() usage.Record {
	return usage.Record{
		EventID:  "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331",
		Time:     time.Date(2026, 3, 4, 5, 6, 7, 500_000_000, time.FixedZone("CET", 3600)),
		TenantID: "acme", UserID: "u-1", SessionID: "s-9", Feature: "summarize", ServiceName: "chat",
		Environment: "prod", Provider: "openai", Operation: "chat", RequestModel: "gpt-4o-mini",
		ResponseModel: "gpt-4o-mini-2024-07-18", CatalogProvider: "openai", CatalogModel: "gpt-4o-mini",
		InputTokens: 500, OutputTokens: 100, CacheReadTokens: 200, CacheWriteTokens: 10, ReasoningTokens: 20,
		InputAudioTokens: 30, OutputAudioTokens: 40, CacheWrite1hTokens: 5,
		CostUSD: "0.000135", ReportedCostUSD: "0.00014", CostReconciliation: usage.ReconcileDiffers,
		CostSource: usage.CostSourceCatalog, RevenueUSD: "0.000162",
		PriceRef: "embedded:genai-prices@0.1.8#openai/gpt-4o-mini", ServiceTier: "flex", Plan: "pro",
		TokenConvention: "inclusive", PricingStatus: usage.StatusPriced, Completion: usage.CompletionComplete, PricingDetail: "catalog 2026-03-01",
		Billable: true, BillableReason: "tenant plan",
		TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331",
	}
}

func TestAppendExact(t *testing.T) {
	r := priced()
	assert.Equal(t, `{"event_id":"0af7651916cd43dd8448eb211c80319cb7ad6b7169203331","time":"2026-03-04T04:06:07.500000000Z",`+
		`"tenant_id":"acme","user_id":"u-1","session_id":"s-9","feature":"summarize","service_name":"chat","environment":"prod",`+
		`"provider":"openai","operation":"chat","request_model":"gpt-4o-mini","response_model":"gpt-4o-mini-2024-07-18",`+
		`"catalog_provider":"openai","catalog_model":"gpt-4o-mini","input_tokens":500,"output_tokens":100,`+
		`"cache_read_tokens":200,"cache_write_tokens":10,"reasoning_tokens":20,`+
		`"input_audio_tokens":30,"output_audio_tokens":40,"cache_write_1h_tokens":5,"cost_usd":"0.000135",`+
		`"reported_cost_usd":"0.00014","cost_reconciliation":"differs","cost_source":"catalog","revenue_usd":"0.000162","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o-mini",`+
		`"service_tier":"flex","plan":"pro","token_convention":"inclusive","pricing_status":"priced",`+
		`"completion":"complete","pricing_detail":"catalog 2026-03-01","billable":true,"billable_reason":"tenant plan",`+
		`"trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331"}`, string(Append(nil, &r)))

	// Optional fields are left out; an unpriced call has no cost, not a 0.
	u := usage.Record{EventID: "e2", Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), TenantID: "acme",
		RequestModel: "mystery", InputTokens: 7, PricingStatus: usage.StatusUnpriced}
	assert.Equal(t, `{"event_id":"e2","time":"2026-03-04T05:06:07.000000000Z","tenant_id":"acme","request_model":"mystery",`+
		`"input_tokens":7,"output_tokens":0,"cache_read_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,`+
		`"input_audio_tokens":0,"output_audio_tokens":0,"cache_write_1h_tokens":0,`+
		`"pricing_status":"unpriced","billable":false}`, string(Append(nil, &u)))
}

// A version-1 object (written before the audio and 1h cache counts existed,
// e.g. in a dead-letter file) still reads, with those counts 0.
func TestUnmarshalVersion1(t *testing.T) {
	got, err := Unmarshal([]byte(`{"event_id":"e","time":"2026-03-04T05:06:07.000000000Z","input_tokens":7,"output_tokens":1,` +
		`"cache_read_tokens":2,"cache_write_tokens":3,"reasoning_tokens":0,"pricing_status":"unpriced","billable":false}`))
	require.NoError(t, err)
	assert.Equal(t, usage.Record{EventID: "e", Time: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC), InputTokens: 7, OutputTokens: 1,
		CacheReadTokens: 2, CacheWriteTokens: 3, PricingStatus: usage.StatusUnpriced}, got)
}

func TestRoundTrip(t *testing.T) {
	for _, r := range []usage.Record{priced(), {EventID: "x", Time: time.Unix(0, 1).UTC(), PricingStatus: usage.StatusNoUsage}} {
		got, err := Unmarshal(Append(nil, &r))
		require.NoError(t, err)
		want := r
		want.Time = r.Time.UTC()
		assert.Equal(t, want, got)
	}
}

// appendString escapes exactly as encoding/json does, so that any consumer's
// JSON parser reads back the same text.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "new\nline\ttab\rcr", "\x00\x01\x1f\x7f", "<a href='x'>&amp;</a>",
		"héllo wörld ✓ 日本", "bad \xff utf8 \xc3", "line\u2028sep\u2029para", "emoji 🚀"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendString(nil, s)), "%q", s)
	}
}

func TestUnmarshalRefusesIncompleteRecords(t *testing.T) {
	for in, want := range map[string]string{
		`{`: "usagejson: unexpected end of JSON input",
		`{"time":"2026-03-04T05:06:07Z","pricing_status":"priced"}`:                "usagejson: missing event_id",
		`{"event_id":"e","time":"2026-03-04T05:06:07Z"}`:                           "usagejson: missing pricing_status",
		`{"event_id":"e","time":"2026-03-04T05:06:07Z","pricing_status":"priced"}`: "usagejson: missing a token count",
		`{"event_id":"e","time":"x","pricing_status":"priced","input_tokens":1,"output_tokens":1,"cache_read_tokens":1,"cache_write_tokens":1,"reasoning_tokens":1}`:                 "usagejson: missing billable",
		`{"event_id":"e","time":"x","pricing_status":"priced","input_tokens":1,"output_tokens":1,"cache_read_tokens":1,"cache_write_tokens":1,"reasoning_tokens":1,"billable":true}`: `usagejson: time: parsing time "x" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "x" as "2006"`,
	} {
		_, err := Unmarshal([]byte(in))
		assert.EqualError(t, err, want, in)
	}
}

func BenchmarkAppend(b *testing.B) {
	r := priced()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		buf = Append(buf[:0], &r)
	}
	b.ReportMetric(float64(len(buf)), "bytes/record")
}

func TestUnmarshalRefusesMissingTime(t *testing.T) {
	_, err := Unmarshal([]byte(`{"event_id":"e","pricing_status":"priced","input_tokens":1,"output_tokens":1,` +
		`"cache_read_tokens":1,"cache_write_tokens":1,"reasoning_tokens":1,"billable":true}`))
	assert.EqualError(t, err, `usagejson: time: parsing time "" as "2006-01-02T15:04:05.999999999Z07:00": cannot parse "" as "2006"`)
}

// TestEveryFieldHasAKey: the JSON object of the full record (every field set)
// has exactly one key per field of usage.Fields, in its order, and reads back
// equal.
func TestEveryFieldHasAKey(t *testing.T) {
	full := usagetest.Full()
	data := Append(nil, &full)
	dec := json.NewDecoder(bytes.NewReader(data))
	_, err := dec.Token() // {
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	var want []string
	for _, f := range usage.Fields() {
		want = append(want, f.Name)
	}
	assert.Equal(t, want, keys)
	back, err := Unmarshal(data)
	require.NoError(t, err)
	assert.Equal(t, full, back)
}
