package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/printable"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	usagerec "github.com/genaimeter/genaimeter/internal/usage"
)

func init() {
	register("usage", command{
		summary: "sum the usage ledger per tenant and model",
		run:     runUsage,
	})
}

const usageUsage = `usage: genaimeter usage --db PATH [--since RFC3339] [--until RFC3339] [--format table|json]

Sums the usage ledger written by the genai_ledger exporter per tenant and model
(the catalog model, or the request model of calls not found in the catalog),
over calls with since <= time < until. COST_USD is the exact sum of the priced
calls; UNPRICED counts the calls without a price, which the cost does not cover;
INVALID counts the calls recorded as invalid_usage (their usage or time cannot
be right: no tokens, no cost, not billable; pricing_detail in the ledger says
why). Token sums are exact: a sum beyond int64 is an error, never a wrong number.
--format json writes one JSON object per line, with cost_usd as a decimal string,
and also the audio and 1-hour cache-write token sums and stopped_calls (calls
cut off before their end; priced ones are a lower bound).`

// usageOut is one JSON output line. Cost is a string: the exact decimal.
type usageOut struct {
	TenantID         string `json:"tenant_id"`
	Model            string `json:"model"`
	Calls            int64  `json:"calls"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CacheReadTokens  int64  `json:"cache_read_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens"`
	// The audio and 1-hour parts (priced at their own rates), and the calls
	// stopped before their end (priced ones are a lower bound).
	InputAudioTokens   int64 `json:"input_audio_tokens"`
	OutputAudioTokens  int64 `json:"output_audio_tokens"`
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
	StoppedCalls       int64 `json:"stopped_calls"`
	// CostUSD is null when no call of the group has a price.
	CostUSD       *string `json:"cost_usd"`
	UnpricedCalls int64   `json:"unpriced_calls"`
	InvalidCalls  int64   `json:"invalid_calls"`
}

func runUsage(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db := fs.String("db", "", "ledger database file written by the genai_ledger exporter (required)")
	since := fs.String("since", "", "first time included, RFC 3339 (default: the beginning)")
	until := fs.String("until", "", "first time excluded, RFC 3339 (default: no end)")
	format := fs.String("format", "table", "output format: table or json")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, usageUsage)
			return nil
		}
		return usageError{fmt.Errorf("%v\n%s", err, usageUsage)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *db == "" {
		return usageError{fmt.Errorf("--db is required\n%s", usageUsage)}
	}
	if *format != "table" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want table or json", *format)}
	}
	var filter sqlitestore.SummaryFilter
	for _, f := range []struct {
		name, val string
		dst       *time.Time
	}{{"since", *since, &filter.Since}, {"until", *until, &filter.Until}} {
		if f.val == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.val)
		if err != nil {
			return usageError{fmt.Errorf("--%s %q: want RFC 3339, e.g. 2026-01-01T00:00:00Z", f.name, f.val)}
		}
		*f.dst = t
	}
	if !filter.Since.IsZero() && !filter.Until.IsZero() && !filter.Until.After(filter.Since) {
		return usageError{fmt.Errorf("--until %s must be after --since %s", *until, *since)}
	}

	// Opening a missing file would create an empty database: refuse instead,
	// so that a typo in --db is not reported as "no usage".
	if _, err := os.Stat(*db); err != nil {
		return fmt.Errorf("no ledger at %s: %w", *db, err)
	}
	st, err := sqlitestore.Open(*db)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	v, err := st.Version(ctx)
	if err != nil {
		return err
	}
	if v != sqlitestore.SchemaVersion {
		return fmt.Errorf("ledger %s has schema version %d, this binary reads version %d", *db, v, sqlitestore.SchemaVersion)
	}
	rows, err := st.Summary(ctx, filter)
	if err != nil {
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(usageOut{
				TenantID: r.TenantID, Model: r.Model, Calls: r.Calls,
				InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
				CacheReadTokens: r.CacheReadTokens, CacheWriteTokens: r.CacheWriteTokens,
				ReasoningTokens: r.ReasoningTokens, InputAudioTokens: r.InputAudioTokens, OutputAudioTokens: r.OutputAudioTokens,
				CacheWrite1hTokens: r.CacheWrite1hTokens, StoppedCalls: r.StoppedCalls, CostUSD: pricedCost(r), UnpricedCalls: r.UnpricedCalls,
				InvalidCalls: r.InvalidCalls,
			}); err != nil {
				return err
			}
		}
		return nil
	}
	return writeUsageTable(stdout, rows)
}

// writeUsageTable prints rows as an aligned table (text left, numbers right)
// with a TOTAL line. The total cost is summed exactly, like the rows.
func writeUsageTable(w io.Writer, rows []sqlitestore.SummaryRow) error {
	header := []string{"TENANT", "MODEL", "CALLS", "INPUT", "OUTPUT", "CACHE_READ", "CACHE_WRITE", "REASONING", "COST_USD", "UNPRICED", "INVALID"}
	var total sqlitestore.SummaryRow
	var totalCost apd.Decimal
	table := [][]string{header}
	for _, r := range rows {
		// Tenant and model come from clients: a newline there would start a
		// forged row, an escape sequence would rewrite the screen.
		table = append(table, usageCells(printable.Escape(dash(r.TenantID)), printable.Escape(dash(r.Model)), r))
		// Exact or refused: a total int64 cannot hold is an error, never a
		// negative number.
		for _, f := range [...]struct {
			name string
			sum  *int64
			n    int64
		}{{"CALLS", &total.Calls, r.Calls}, {"INPUT", &total.InputTokens, r.InputTokens},
			{"OUTPUT", &total.OutputTokens, r.OutputTokens}, {"CACHE_READ", &total.CacheReadTokens, r.CacheReadTokens},
			{"CACHE_WRITE", &total.CacheWriteTokens, r.CacheWriteTokens}, {"REASONING", &total.ReasoningTokens, r.ReasoningTokens},
			{"UNPRICED", &total.UnpricedCalls, r.UnpricedCalls}, {"INVALID", &total.InvalidCalls, r.InvalidCalls}} {
			if err := usagerec.AddCount(f.sum, f.n); err != nil {
				return fmt.Errorf("total %s: %w", f.name, err)
			}
		}
		c, err := money.Parse(r.CostUSD)
		if err != nil {
			return fmt.Errorf("cost %q of %s/%s: %w", r.CostUSD, r.TenantID, r.Model, err)
		}
		// Never a float: money.Add is exact.
		if err := money.Add(&totalCost, &totalCost, &c); err != nil {
			return fmt.Errorf("total cost: %w", err)
		}
	}
	total.CostUSD = totalCost.Text('f')
	table = append(table, usageCells("TOTAL", "", total))

	widths := make([]int, len(header))
	for _, row := range table {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	for _, row := range table {
		var line strings.Builder
		for i, c := range row {
			if i > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i < 2 { // tenant and model: left-aligned text
				line.WriteString(c + pad)
			} else {
				line.WriteString(pad + c)
			}
		}
		b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func usageCells(tenant, model string, r sqlitestore.SummaryRow) []string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	// No call of the group has a price: show that, not a $0 that reads like
	// free usage. The UNPRICED column says how many.
	cost := "-"
	if c := pricedCost(r); c != nil {
		cost = *c
	}
	return []string{tenant, model, n(r.Calls), n(r.InputTokens), n(r.OutputTokens), n(r.CacheReadTokens),
		n(r.CacheWriteTokens), n(r.ReasoningTokens), cost, n(r.UnpricedCalls), n(r.InvalidCalls)}
}

// pricedCost is the group's cost, or nil when none of its calls is priced.
func pricedCost(r sqlitestore.SummaryRow) *string {
	if r.Calls > 0 && r.UnpricedCalls+r.InvalidCalls == r.Calls {
		return nil
	}
	return &r.CostUSD
}

// dash shows an unknown tenant or model as "-" so that columns stay readable.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
