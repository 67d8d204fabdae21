package genaibillingexporter

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestForeignUsageRecordsAreNeverBilled: log records that look like usage
// records but that genaimeter never writes (issue 11 item 9: a made-up
// pricing status, an event id that is no span's, cache reads above input, a
// negative revenue) are dead-lettered with the reason and never sent; the
// good records of the batch are billed. (Before usage.ValidateRecord they
// were all billed.)
func TestForeignUsageRecordsAreNeverBilled(t *testing.T) {
	srv := newContractServer(t, backendWebhook)
	cfg := stormConfig(t, backendWebhook, srv, 0)
	cfg.Meters = []MeterConfig{{Name: "genai_tokens", Value: valueTotalTokens}}
	e := newTestExporter(t, cfg)

	recs := stormRecords(6)[:3] // t1, t2, t3: mapped and priced
	good := []string{recs[0].EventID, recs[1].EventID, recs[2].EventID}
	foreign := []struct {
		mutate func(r *usage.Record)
		reason string
	}{
		{func(r *usage.Record) { r.PricingStatus = "free"; r.CostUSD = "" },
			`pricing_status: must be one of priced, unpriced, no_usage, invalid_usage, got "free"`},
		{func(r *usage.Record) { r.EventID = "xyz" },
			`event_id: want 48 lowercase hex digits (trace id + span id), got "xyz"`},
		{func(r *usage.Record) { r.CacheReadTokens = 1_000_000 },
			"cache_read_tokens: cache read 1000000 + cache write 0 above input_tokens 100 (input includes the cache tokens)"},
		{func(r *usage.Record) { r.RevenueUSD = "-5" },
			`revenue_usd: want a non-negative decimal in plain notation, got "-5"`},
	}
	for i, f := range foreign {
		r := stormRecords(1)[0]
		r.EventID = r.EventID[:47] + string(rune('a'+i))
		r.SpanID = r.EventID[32:]
		f.mutate(&r)
		recs = append(recs, r)
	}
	require.NoError(t, e.pushLogs(context.Background(), toLogs(recs)))

	srv.mu.Lock()
	var sent []string
	for k := range srv.ingested {
		sent = append(sent, k)
	}
	srv.mu.Unlock()
	assert.ElementsMatch(t, []string{good[0] + ":genai_tokens", good[1] + ":genai_tokens", good[2] + ":genai_tokens"}, sent)

	dead := readDeadLetters(t, cfg.DeadLetter.Path)
	require.Len(t, dead, len(foreign))
	for i, f := range foreign {
		assert.Equal(t, reasonMalformed, dead[i].Reason)
		assert.Equal(t, "invalid usage record: "+f.reason, dead[i].Error)
	}
}

// TestTotalTokensNeverWrap (issue 11 item 3): input = output = 2^63-1 made a
// total_tokens event of "-2" (int64 addition). The value is now the exact
// decimal sum, alone and aggregated over a window with another call.
func TestTotalTokensNeverWrap(t *testing.T) {
	for _, window := range []time.Duration{0, time.Minute} {
		srv := newContractServer(t, backendWebhook)
		cfg := stormConfig(t, backendWebhook, srv, window)
		cfg.Meters = []MeterConfig{{Name: "genai_tokens", Value: valueTotalTokens}}
		e := newTestExporter(t, cfg)
		recs := stormRecords(8)
		huge := []usage.Record{recs[0], recs[7]} // both t1, in the same minute
		for i := range huge {
			huge[i].InputTokens, huge[i].OutputTokens = math.MaxInt64, math.MaxInt64
		}
		require.NoError(t, e.pushLogs(context.Background(), toLogs(huge)))
		srv.mu.Lock()
		var values []string
		for _, ev := range srv.events {
			values = append(values, ev.value)
		}
		srv.mu.Unlock()
		if window == 0 {
			assert.Equal(t, []string{"18446744073709551614", "18446744073709551614"}, values)
		} else {
			assert.Equal(t, []string{"36893488147419103228"}, values)
		}
	}
}
