package pricing

import (
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
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

// BenchmarkBook prices through a Book of three layers (the full embedded
// catalog, a LiteLLM map, a native contract with a discount):
//   - cached: a pair seen before, with a provider alias to canonicalize, a
//     dated name that reaches the contract and a service tier — the
//     processor's steady state;
//   - cached-revenue: the same plus a per-token rate card;
//   - cold: a new name every iteration (normalization candidates × layers,
//     full scans: the worst case of an unknown model).
func BenchmarkBook(b *testing.B) {
	lite := loadT(b, FormatLiteLLM, "testdata/litellm/prices.json")
	contract := loadT(b, FormatNative, "testdata/native/contract.yaml")
	book := bookT(b, BookOptions{Aliases: map[string]string{"deploy-1": "gpt-4o"}}, Embedded(), lite, contract)
	at := time.Date(2025, 7, 15, 12, 0, 0, 0, time.UTC)
	mk := func() *Query {
		q := &Query{Provider: "openai.chat", ResponseModel: "gpt-4.1-2025-04-14", At: at, Tier: "flex"}
		q.Usage.SetInputTokens(250000)
		q.Usage.SetCacheReadTokens(1000)
		q.Usage.SetOutputTokens(730)
		return q
	}
	b.Run("cached", func(b *testing.B) {
		q := mk()
		var r Result
		book.Price(q, &r)
		if r.Status != Priced || r.Tier != "flex" {
			b.Fatal(r.Status, r.Detail)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			book.Price(q, &r)
		}
	})
	b.Run("cached-revenue", func(b *testing.B) {
		rc, err := NewRateCard(RateCardSpec{Rates: map[string]string{"input_mtok": "4", "cache_read_mtok": "1", "output_mtok": "16"}})
		if err != nil {
			b.Fatal(err)
		}
		q := mk()
		var r Result
		var rev apd.Decimal
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			book.Price(q, &r)
			if err := rc.Revenue(&q.Usage, &r.Cost, &rev); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			q := mk()
			var r Result
			for pb.Next() {
				book.Price(q, &r)
			}
		})
	})
	b.Run("cold", func(b *testing.B) {
		names := make([]string, b.N)
		for i := range names {
			names[i] = fmt.Sprintf("gpt-4o-variant-%d", i)
		}
		q := mk()
		var r Result
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			q.ResponseModel = names[i]
			book.Price(q, &r)
		}
	})
}
