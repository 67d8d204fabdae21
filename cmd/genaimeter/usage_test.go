package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	usagerec "github.com/genaimeter/genaimeter/internal/usage"
)

// ledger writes a small ledger: two priced gpt-4o-mini calls of acme, an
// unpriced call of acme, a priced call of globex, and one acme call a day later.
func ledger(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "usage.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	mini := func(id string, at time.Time) usagerec.Record {
		return usagerec.Record{EventID: id, Time: at, TenantID: "acme", RequestModel: "gpt-4o-mini",
			CatalogModel: "gpt-4o-mini", InputTokens: 500, OutputTokens: 100, CacheReadTokens: 200,
			ReasoningTokens: 20, CostUSD: "0.000135", PricingStatus: usagerec.StatusPriced}
	}
	// eventID is a span-shaped id (48 hex digits) named after n.
	eventID := func(n string) string { return fmt.Sprintf("%048x", n) }
	_, _, err = s.Insert(ctx, []usagerec.Record{
		mini(eventID("a1"), day.Add(time.Hour)),
		mini(eventID("a2"), day.Add(2*time.Hour)),
		{EventID: eventID("a3"), Time: day.Add(3 * time.Hour), TenantID: "acme", RequestModel: "mystery-model",
			InputTokens: 7, PricingStatus: usagerec.StatusUnpriced},
		{EventID: eventID("g1"), Time: day.Add(4 * time.Hour), TenantID: "globex", CatalogModel: "claude-sonnet-4",
			InputTokens: 1_000_000, OutputTokens: 20_000, CacheWriteTokens: 3_000, CostUSD: "3.3",
			PricingStatus: usagerec.StatusPriced},
		mini(eventID("a4"), day.Add(25*time.Hour)),
	})
	require.NoError(t, err)
	return path
}

func TestUsageTable(t *testing.T) {
	code, out, errOut := runCLI(t, "", "usage", "--db", ledger(t))
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, ""+
		"TENANT  MODEL            CALLS    INPUT  OUTPUT  CACHE_READ  CACHE_WRITE  REASONING  COST_USD  UNPRICED  INVALID\n"+
		"acme    gpt-4o-mini          3     1500     300         600            0         60  0.000405         0        0\n"+
		"acme    mystery-model        1        7       0           0            0          0         -         1        0\n"+
		"globex  claude-sonnet-4      1  1000000   20000           0         3000          0       3.3         0        0\n"+
		"TOTAL                        5  1001507   20300         600         3000         60  3.300405         1        0\n",
		out)
	assert.Empty(t, errOut)
}

func TestUsageJSONWithTimeRange(t *testing.T) {
	// Half-open range: a1 (01:00) is excluded by --since 01:00:00.000000001,
	// a4 (next day) by --until.
	code, out, errOut := runCLI(t, "", "usage", "--db", ledger(t), "--format", "json",
		"--since", "2026-03-01T01:00:00.000000001Z", "--until", "2026-03-02T00:00:00Z")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, ""+
		`{"tenant_id":"acme","model":"gpt-4o-mini","calls":1,"input_tokens":500,"output_tokens":100,"cache_read_tokens":200,"cache_write_tokens":0,"reasoning_tokens":20,"input_audio_tokens":0,"output_audio_tokens":0,"cache_write_1h_tokens":0,"stopped_calls":0,"cost_usd":"0.000135","unpriced_calls":0,"invalid_calls":0}`+"\n"+
		`{"tenant_id":"acme","model":"mystery-model","calls":1,"input_tokens":7,"output_tokens":0,"cache_read_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"input_audio_tokens":0,"output_audio_tokens":0,"cache_write_1h_tokens":0,"stopped_calls":0,"cost_usd":null,"unpriced_calls":1,"invalid_calls":0}`+"\n"+
		`{"tenant_id":"globex","model":"claude-sonnet-4","calls":1,"input_tokens":1000000,"output_tokens":20000,"cache_read_tokens":0,"cache_write_tokens":3000,"reasoning_tokens":0,"input_audio_tokens":0,"output_audio_tokens":0,"cache_write_1h_tokens":0,"stopped_calls":0,"cost_usd":"3.3","unpriced_calls":0,"invalid_calls":0}`+"\n",
		out)
}

func TestUsageEmptyRange(t *testing.T) {
	code, out, errOut := runCLI(t, "", "usage", "--db", ledger(t), "--since", "2030-01-01T00:00:00Z")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, ""+
		"TENANT  MODEL  CALLS  INPUT  OUTPUT  CACHE_READ  CACHE_WRITE  REASONING  COST_USD  UNPRICED  INVALID\n"+
		"TOTAL              0      0       0           0            0          0         0         0        0\n", out)
}

func TestUsageErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.db")
	notLedger := filepath.Join(t.TempDir(), "other.db")
	s, err := sqlitestore.Open(notLedger) // a SQLite file without our schema
	require.NoError(t, err)
	require.NoError(t, s.Close())

	for name, tc := range map[string]struct {
		args    []string
		code    int
		wantErr string
	}{
		"no db":       {[]string{"usage"}, 2, "genaimeter usage: --db is required\n" + usageUsage + "\n"},
		"bad format":  {[]string{"usage", "--db", "x", "--format", "csv"}, 2, "genaimeter usage: --format \"csv\": want table or json\n"},
		"bad since":   {[]string{"usage", "--db", "x", "--since", "yesterday"}, 2, "genaimeter usage: --since \"yesterday\": want RFC 3339, e.g. 2026-01-01T00:00:00Z\n"},
		"empty range": {[]string{"usage", "--db", "x", "--since", "2026-01-02T00:00:00Z", "--until", "2026-01-01T00:00:00Z"}, 2, "genaimeter usage: --until 2026-01-01T00:00:00Z must be after --since 2026-01-02T00:00:00Z\n"},
		"extra arg":   {[]string{"usage", "--db", "x", "y"}, 2, "genaimeter usage: unexpected arguments [\"y\"]\n"},
		"missing db":  {[]string{"usage", "--db", missing}, 1, "genaimeter usage: no ledger at " + missing + ": stat " + missing + ": no such file or directory\n"},
		"not ledger":  {[]string{"usage", "--db", notLedger}, 1, "genaimeter usage: sqlitestore: \"" + notLedger + "\" is not a usage ledger: SQL logic error: no such table: schema_version (1)\n"},
	} {
		code, out, errOut := runCLI(t, "", tc.args...)
		assert.Equal(t, tc.code, code, name)
		assert.Empty(t, out, name)
		assert.Equal(t, tc.wantErr, errOut, name)
	}
	_, err = os.Stat(missing)
	assert.True(t, os.IsNotExist(err), "a missing --db must not be created")
}

// A tenant id or model with a newline (or a terminal escape) must not forge a
// row of the table, nor rewrite what the operator reads: control characters
// are printed as Go escapes (issue 11, item 10).
func TestUsageTableEscapesControlCharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	_, _, err = s.Insert(ctx, []usagerec.Record{
		{EventID: fmt.Sprintf("%048x", "f1"), Time: at, TenantID: "evil\nglobex  gpt-4o  1000  0  0  0  0  0  100.00  0", CatalogModel: "gpt-4o",
			InputTokens: 1, CostUSD: "0.01", PricingStatus: usagerec.StatusPriced},
		{EventID: fmt.Sprintf("%048x", "f2"), Time: at, TenantID: "acme", CatalogModel: "gpt\x1b[2J\u202e-4o\\x",
			InputTokens: 2, CostUSD: "0.02", PricingStatus: usagerec.StatusPriced},
	})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	code, out, errOut := runCLI(t, "", "usage", "--db", path)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, ""+
		`TENANT                                                MODEL                   CALLS  INPUT  OUTPUT  CACHE_READ  CACHE_WRITE  REASONING  COST_USD  UNPRICED  INVALID`+"\n"+
		`acme                                                  gpt\x1b[2J\u202e-4o\\x      1      2       0           0            0          0      0.02         0        0`+"\n"+
		`evil\nglobex  gpt-4o  1000  0  0  0  0  0  100.00  0  gpt-4o                      1      1       0           0            0          0      0.01         0        0`+"\n"+
		`TOTAL                                                                             2      3       0           0            0          0      0.03         0        0`+"\n",
		out)
}

// TestUsageCountsInvalidCallsApart: a call recorded as invalid_usage (issue
// 11 item 4) is in the INVALID column, not among the unpriced ones, and adds
// no tokens.
func TestUsageCountsInvalidCallsApart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "usage.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	_, _, err = s.Insert(ctx, []usagerec.Record{
		{EventID: fmt.Sprintf("%048x", "p1"), Time: at, TenantID: "acme", CatalogModel: "gpt-4o",
			InputTokens: 100, CostUSD: "0.01", PricingStatus: usagerec.StatusPriced},
		{EventID: fmt.Sprintf("%048x", "i1"), Time: at, TenantID: "acme", RequestModel: "gpt-4o",
			PricingStatus: usagerec.StatusInvalidUsage, PricingDetail: "gen_ai.usage.input_tokens: token count must be >= 0, got -5",
			BillableReason: "invalid_usage"},
		{EventID: fmt.Sprintf("%048x", "i2"), Time: at, TenantID: "globex", RequestModel: "gpt-4o",
			PricingStatus: usagerec.StatusInvalidUsage, PricingDetail: "time: the span has neither a start nor an end time",
			BillableReason: "invalid_usage"},
	})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	code, out, errOut := runCLI(t, "", "usage", "--db", path)
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, ""+
		"TENANT  MODEL   CALLS  INPUT  OUTPUT  CACHE_READ  CACHE_WRITE  REASONING  COST_USD  UNPRICED  INVALID\n"+
		"acme    gpt-4o      2    100       0           0            0          0      0.01         0        1\n"+
		"globex  gpt-4o      1      0       0           0            0          0         -         0        1\n"+
		"TOTAL               3    100       0           0            0          0      0.01         0        2\n", out)
}

// TestUsageRefusesTokenSumsBeyondInt64 (issue 11 item 3): 1,100 priced calls
// of 2^53-1 input tokens each sum beyond int64. Before, INPUT was printed
// negative; now the sum is refused with the group named, and a total over
// two groups that each fit is refused too.
func TestUsageRefusesTokenSumsBeyondInt64(t *testing.T) {
	for name, tc := range map[string]struct {
		tenants []string
		wantErr string
	}{
		"one group": {[]string{"acme"},
			"genaimeter usage: sqlitestore: summary: tenant \"acme\", model \"gpt-4o\": input_tokens: token count sum overflows int64: 9223372036854774784 + 9007199254740991\n"},
		"the total": {[]string{"acme", "globex"},
			"genaimeter usage: total INPUT: token count sum overflows int64: 4953959590107545050 + 4953959590107545050\n"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "usage.db")
			s, err := sqlitestore.Open(path)
			require.NoError(t, err)
			ctx := context.Background()
			require.NoError(t, s.Migrate(ctx))
			at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
			var recs []usagerec.Record
			for i := range 1100 {
				recs = append(recs, usagerec.Record{EventID: fmt.Sprintf("%048x", i), Time: at,
					TenantID: tc.tenants[i%len(tc.tenants)], CatalogModel: "gpt-4o",
					InputTokens: 1<<53 - 1, CostUSD: "1", PricingStatus: usagerec.StatusPriced})
			}
			_, _, err = s.Insert(ctx, recs)
			require.NoError(t, err)
			require.NoError(t, s.Close())

			code, out, errOut := runCLI(t, "", "usage", "--db", path)
			assert.Equal(t, 1, code)
			assert.Empty(t, out)
			assert.Equal(t, tc.wantErr, errOut)
		})
	}
}

// TestUsageTotalIsExact: the TOTAL cost adds the rows' decimals with
// money.Add. The values are ones a float64 sum gets wrong (0.1 + 0.2 is
// 0.30000000000000004; next to 1e16 the tenths vanish), which the test
// checks first, so a float total cannot pass it.
func TestUsageTotalIsExact(t *testing.T) {
	costs := map[string]string{"t1": "0.1", "t2": "0.2", "t3": "10000000000000000", "t4": "0.000000000000000001"}
	const want = "10000000000000000.300000000000000001"
	var float float64
	for _, tenant := range []string{"t1", "t2", "t3", "t4"} {
		f, err := strconv.ParseFloat(costs[tenant], 64)
		require.NoError(t, err)
		float += f
	}
	require.NotEqual(t, want, strconv.FormatFloat(float, 'f', -1, 64), "the values must defeat a float sum")

	path := filepath.Join(t.TempDir(), "usage.db")
	s, err := sqlitestore.Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	at := time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)
	var recs []usagerec.Record
	for tenant, cost := range costs {
		recs = append(recs, usagerec.Record{EventID: fmt.Sprintf("%048x", tenant), Time: at, TenantID: tenant, RequestModel: "m",
			CatalogModel: "m", InputTokens: 1, CostUSD: cost, PricingStatus: usagerec.StatusPriced})
	}
	_, _, err = s.Insert(ctx, recs)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	code, out, errOut := runCLI(t, "", "usage", "--db", path)
	require.Equal(t, 0, code, errOut)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	total := strings.Fields(lines[len(lines)-1])
	require.Equal(t, "TOTAL", total[0], out)
	assert.Equal(t, want, total[len(total)-3], out)
}
