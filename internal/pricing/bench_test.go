package pricing

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPrice prices over the full embedded catalog.
//   - cached: a (provider, model) pair seen before — the processor's steady state;
//   - cold: every iteration is a new model name (cache miss: full catalog
//     scan by model_match, since the name matches nothing).
func BenchmarkPrice(b *testing.B) {
	c := Embedded()
	at := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	b.Run("cached", func(b *testing.B) {
		q := &Query{Provider: "anthropic", ResponseModel: "claude-sonnet-4-6", At: at}
		q.Usage.SetInputTokens(250000)
		q.Usage.SetCacheReadTokens(1000)
		q.Usage.SetOutputTokens(730)
		var r Result
		c.Price(q, &r)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c.Price(q, &r)
		}
		if r.Status != Priced {
			b.Fatal(r.Detail)
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			q := &Query{Provider: "openai", ResponseModel: "gpt-4o", At: at}
			q.Usage.SetInputTokens(4100)
			q.Usage.SetOutputTokens(730)
			var r Result
			for pb.Next() {
				c.Price(q, &r)
			}
		})
	})
	b.Run("cold", func(b *testing.B) {
		names := make([]string, b.N)
		for i := range names {
			names[i] = fmt.Sprintf("gpt-4o-variant-%d", i)
		}
		q := &Query{Provider: "openai", At: at}
		q.Usage.SetInputTokens(4100)
		q.Usage.SetOutputTokens(730)
		var r Result
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			q.ResponseModel = names[i]
			c.Price(q, &r)
		}
	})
}
