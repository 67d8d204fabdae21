package reprice

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
)

var at = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

func book(t testing.TB, native string) *pricing.Book {
	layers := []*pricing.Catalog{pricing.Embedded()}
	if native != "" {
		c, _, err := pricing.Parse(pricing.FormatNative, []byte(native), "contract.yaml")
		require.NoError(t, err)
		layers = append(layers, c)
	}
	b, err := pricing.NewBook(layers, pricing.BookOptions{})
	require.NoError(t, err)
	return b
}

func cards(t testing.TB) *pricing.RateCards {
	path := filepath.Join(t.TempDir(), "cards.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
default: {markup_percent: 50}
plans:
  pro: {rates: {input_mtok: 1000, output_mtok: 4000}, usd_per_credit: "0.01"}
tenants:
  vip: {markup_percent: "12.5"}
`), 0o600))
	rc, err := pricing.LoadRateCards(path)
	require.NoError(t, err)
	return rc
}

// stored prices a call the way genai_cost stores it: cost from b, revenue
// from the call's card.
func stored(t testing.TB, b *pricing.Book, rc *pricing.RateCards, i int, tenant, plan, provider, model string, in, out, cacheRead int64) usage.Record {
	r := usage.Record{EventID: fmt.Sprintf("%048x", i), Time: at.Add(time.Duration(i) * time.Minute), TenantID: tenant, Plan: plan,
		Provider: provider, RequestModel: model, Operation: "chat", Feature: "chat", InputTokens: in, OutputTokens: out, CacheReadTokens: cacheRead}
	q := pricing.Query{Provider: provider, RequestModel: model, At: r.Time}
	q.Usage.SetCall(pricing.CallUsage{Input: in, Output: out, CacheRead: cacheRead})
	var res pricing.Result
	b.Price(&q, &res)
	if res.Status != pricing.Priced {
		r.PricingStatus = usage.StatusUnpriced
	} else {
		r.PricingStatus, r.CostUSD, r.CatalogProvider, r.CatalogModel = usage.StatusPriced, money.Format(&res.Cost), res.ProviderID, res.ModelID
		r.CostSource = usage.CostSourceCatalog
	}
	if c := rc.For(tenant, plan); c != nil && (res.Status == pricing.Priced || !c.NeedsCost()) {
		var u pricing.Usage
		u.SetCall(pricing.CallUsage{Input: in, Output: out, CacheRead: cacheRead})
		var rev apd.Decimal
		require.NoError(t, c.Revenue(&u, &res.Cost, &rev))
		r.RevenueUSD = money.Format(&rev)
	}
	return r
}

func ledger(t testing.TB) []usage.Record {
	b, rc := book(t, ""), cards(t)
	recs := []usage.Record{
		stored(t, b, rc, 1, "acme", "", "openai", "gpt-4o", 12000, 800, 2000),
		stored(t, b, rc, 2, "acme", "pro", "openai", "gpt-4o-mini", 5000, 300, 0),
		stored(t, b, rc, 3, "vip", "", "anthropic", "claude-sonnet-4-5", 3000, 600, 0),
		stored(t, b, rc, 4, "vip", "", "openai", "gpt-4o", 100, 10, 0),
		stored(t, b, rc, 5, "acme", "pro", "openai", "mystery-model", 100, 10, 0),
		{EventID: fmt.Sprintf("%048x", 6), Time: at, TenantID: "acme", Provider: "openai", RequestModel: "gpt-4o", PricingStatus: usage.StatusNoUsage},
	}
	// Billed at the provider's reported cost (pricing.reported_cost).
	r := stored(t, b, rc, 7, "acme", "", "openai", "gpt-4o", 1000, 100, 0)
	r.CostUSD, r.ReportedCostUSD, r.CostSource, r.RevenueUSD = "0.5", "0.5", usage.CostSourceReported, "0.75"
	return append(recs, r)
}

func run(t *testing.T, opts Options, recs []usage.Record) (*Repricer, []string) {
	rp, err := New(opts)
	require.NoError(t, err)
	var changed []string
	for i := range recs {
		o, err := rp.Add(&recs[i])
		require.NoError(t, err)
		if o.Changed {
			changed = append(changed, recs[i].EventID[44:])
		}
	}
	sort.Strings(changed)
	return rp, changed
}

// TestSameBookReproduces: the book and cards the records were priced with
// give back every stored cost and revenue, to the digit.
func TestSameBookReproduces(t *testing.T) {
	recs := ledger(t)
	rp, changed := run(t, Options{Book: book(t, ""), Cards: cards(t)}, recs)
	assert.Empty(t, changed)
	tot := rp.Totals()
	assert.Equal(t, money.Format(&tot.CostNow), money.Format(&tot.CostAlt))
	assert.Equal(t, money.Format(&tot.RevenueNow), money.Format(&tot.RevenueAlt))
	assert.Equal(t, map[string]int64{usage.StatusNoUsage: 1}, rp.Skipped)
	assert.Equal(t, int64(1), rp.ReportedKept)
	require.Len(t, rp.Unpriceable, 1)
	assert.Equal(t, "acme", rp.Unpriceable[0].Tenant)
	assert.Equal(t, "openai/mystery-model", rp.Unpriceable[0].Model)
	assert.Contains(t, rp.Unpriceable[0].Reason, "mystery-model")
}

// TestChangedModelChangesItsCallsOnly: a contract on gpt-4o changes exactly
// the gpt-4o calls priced from the catalog (not the one billed at its
// reported cost), and a markup card's revenue with them; nothing else.
func TestChangedModelChangesItsCallsOnly(t *testing.T) {
	recs := ledger(t)
	contract := `
models:
  - provider: openai
    model: gpt-4o
    prices: {input_mtok: 2, output_mtok: 8, cache_read_mtok: 1}
`
	rp, changed := run(t, Options{Book: book(t, contract), Cards: cards(t)}, recs)
	assert.Equal(t, []string{"0001", "0004"}, changed)
	for _, l := range rp.Lines() {
		c, r := l.Diff()
		switch {
		case l.Tenant == "acme" && l.Model == "openai/gpt-4o" && l.Feature == "chat":
			// 10000 × 2 + 2000 × 1 + 800 × 8 (per M) = 0.0284 against the
			// list price 10000 × 2.5 + 2000 × 1.25 + 800 × 10 = 0.0355;
			// plus the reported-cost call, kept at 0.5 both ways.
			assert.Equal(t, "0.5284", money.Format(&l.CostAlt))
			assert.Equal(t, "-0.0071", money.Format(&c))
			assert.Equal(t, "-0.01065", money.Format(&r), "markup 50%")
		case l.Tenant == "vip" && l.Model == "openai/gpt-4o": // 12.5 %
			assert.Equal(t, "0.00028", money.Format(&l.CostAlt))
			assert.Equal(t, "-0.00007", money.Format(&c))
			assert.Equal(t, "-0.00007875", money.Format(&r))
		default:
			assert.True(t, c.IsZero() && r.IsZero(), "%v changed", l.Key)
		}
	}
}

// TestAtAndNoCards: --at prices every call at one instant; without cards the
// stored revenue is kept.
func TestAtAndNoCards(t *testing.T) {
	recs := ledger(t)
	dated := `
models:
  - provider: openai
    model: gpt-4o-mini
    prices:
      - {effective_to: 2026-12-01, input_mtok: 0.15, output_mtok: 0.6}
      - {effective_from: 2026-12-01, input_mtok: 0.3, output_mtok: 1.2}
`
	_, changed := run(t, Options{Book: book(t, dated)}, recs)
	assert.Empty(t, changed, "at the calls' own time the November price applies")
	rp, changed := run(t, Options{Book: book(t, dated), At: time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC)}, recs)
	assert.Equal(t, []string{"0002"}, changed)
	tot := rp.Totals()
	assert.Equal(t, money.Format(&tot.RevenueNow), money.Format(&tot.RevenueAlt))
}
