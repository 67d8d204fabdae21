package reprice

import (
	"fmt"
	"testing"
	"time"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// million is a million stored records across 200 tenants, 6 models (one
// unknown), 3 features and a month of call times, priced like the ledger.
func million(b *testing.B) []usage.Record {
	bk, rc := book(b, ""), cards(b)
	type m struct{ provider, model string }
	models := []m{{"openai", "gpt-4o"}, {"openai", "gpt-4o-mini"}, {"openai", "gpt-4.1"}, {"anthropic", "claude-sonnet-4-5"},
		{"anthropic", "claude-3-5-haiku"}, {"openai", "mystery-model"}}
	// One template per model and plan, then a million copies with their own
	// ids, tenants, times and token counts re-priced at run time.
	recs := make([]usage.Record, 1_000_000)
	for i := range recs {
		md := models[i%len(models)]
		plan := ""
		if i%3 == 0 {
			plan = "pro"
		}
		if i < 2*len(models) {
			recs[i] = stored(b, bk, rc, i, fmt.Sprintf("t%03d", i%200), plan, md.provider, md.model, int64(1000+i%5000), int64(100+i%700), int64(i%3)*200)
			continue
		}
		r := recs[i%(2*len(models))]
		r.EventID = fmt.Sprintf("%048x", i)
		r.TenantID = fmt.Sprintf("t%03d", i%200)
		r.Time = at.Add(-time.Duration(i%(30*24*60)) * time.Minute)
		r.Feature = []string{"chat", "search", "agent"}[i%3]
		recs[i] = r
	}
	return recs
}

// BenchmarkReprice1M re-prices a million records (one op) under a changed
// book and rate cards: the pricing, revenue and exact sums of
// genaimeter reprice after the ledger read.
func BenchmarkReprice1M(b *testing.B) {
	recs := million(b)
	contract := "models:\n  - {provider: openai, model: gpt-4o, prices: {input_mtok: 2, output_mtok: 8}}\n"
	opts := Options{Book: book(b, contract), Cards: cards(b)}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		rp, err := New(opts)
		if err != nil {
			b.Fatal(err)
		}
		for i := range recs {
			if _, err := rp.Add(&recs[i]); err != nil {
				b.Fatal(err)
			}
		}
		if rp.Records != int64(len(recs)) {
			b.Fatal(rp.Records)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/record")
}
