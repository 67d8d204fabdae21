package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	usagerec "github.com/genaimeter/genaimeter/internal/usage"
)

// TestRepriceCommand: the embedded book reproduces calls priced with it; a
// contract file changes the gpt-4o call only; an unknown model is listed;
// the ledger is left as it was.
func TestRepriceCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "usage.db")
	st, err := sqlitestore.Open(db)
	require.NoError(t, err)
	require.NoError(t, st.Migrate(context.Background()))
	at := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)
	recs := []usagerec.Record{
		// 10000 × $2.50 + 1000 × $10 per million.
		{Provider: "openai", RequestModel: "gpt-4o", CatalogProvider: "openai", CatalogModel: "gpt-4o", InputTokens: 10000, OutputTokens: 1000,
			PricingStatus: usagerec.StatusPriced, CostUSD: "0.035", CostSource: usagerec.CostSourceCatalog},
		// 10000 × $0.15 + 1000 × $0.60 per million.
		{Provider: "openai", RequestModel: "gpt-4o-mini", CatalogProvider: "openai", CatalogModel: "gpt-4o-mini", InputTokens: 10000, OutputTokens: 1000,
			PricingStatus: usagerec.StatusPriced, CostUSD: "0.0021", CostSource: usagerec.CostSourceCatalog},
		{Provider: "openai", RequestModel: "mystery-model", InputTokens: 10, OutputTokens: 1, PricingStatus: usagerec.StatusUnpriced},
	}
	for i := range recs {
		recs[i].EventID, recs[i].TenantID, recs[i].Time, recs[i].Billable = fmt.Sprintf("%048x", i+1), "acme", at.Add(time.Duration(i)*time.Minute), true
	}
	_, _, err = st.Insert(context.Background(), recs)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	snapshot := func() string {
		b, err := os.ReadFile(db)
		require.NoError(t, err)
		return fmt.Sprintf("%x", b)
	}
	before := snapshot()

	contract := filepath.Join(dir, "contract.yaml")
	require.NoError(t, os.WriteFile(contract, []byte("models:\n  - {provider: openai, model: gpt-4o, prices: {input_mtok: 2, output_mtok: 8}}\n"), 0o600))
	var out, errb bytes.Buffer
	args := []string{"reprice", "--db", db, "--since", "2026-11-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z", "--format", "json"}
	require.Equal(t, 0, run(args, nil, &out, &errb), errb.String())
	var same repriceOut
	require.NoError(t, json.Unmarshal(out.Bytes(), &same))
	assert.Equal(t, int64(0), same.Total.Changed)
	assert.Equal(t, "0.0371", same.Total.CostNow)
	assert.Equal(t, "0.0371", same.Total.CostAlt)

	out.Reset()
	require.Equal(t, 0, run(append(args, "--prices", "embedded", "--prices", "genaimeter:"+contract), nil, &out, &errb), errb.String())
	var alt repriceOut
	require.NoError(t, json.Unmarshal(out.Bytes(), &alt))
	assert.Equal(t, int64(1), alt.Total.Changed)
	// 10000 × 2 + 1000 × 8 per million = 0.028.
	assert.Equal(t, "-0.007", alt.Total.CostDiff)
	require.Len(t, alt.Unpriceable, 1)
	assert.Equal(t, "openai/mystery-model", alt.Unpriceable[0].Model)
	assert.Equal(t, int64(1), alt.Total.UnpricedAlt)

	out.Reset()
	require.Equal(t, 0, run(args[:len(args)-2], nil, &out, &errb), errb.String())
	assert.Contains(t, out.String(), "1 calls the alternative cannot price (not counted as 0)")

	for _, bad := range [][]string{
		{"reprice", "--db", db, "--until", "2026-12-01T00:00:00Z"},
		{"reprice", "--db", db, "--since", "2026-12-01T00:00:00Z", "--until", "2026-11-01T00:00:00Z"},
		{"reprice", "--db", db, "--since", "yesterday", "--until", "2026-11-01T00:00:00Z"},
	} {
		assert.Equal(t, 2, run(bad, nil, &out, &errb), bad)
	}
	assert.Equal(t, before, snapshot(), "the ledger file is unchanged")
}
