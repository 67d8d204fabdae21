package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/reconcile"
	usagerec "github.com/genaimeter/genaimeter/internal/usage"
)

func init() {
	register("reconcile", command{
		summary: "compare metered cost with a provider's cost report, per day and model",
		run:     runReconcile,
	})
}

const reconcileUsage = `usage: genaimeter reconcile (--db PATH | --postgres URL) --provider openai|anthropic --costs FILE... [--usage FILE]... [--map FILE]
                            [--prices FORMAT:PATH]... [--format table|json]

Reads the provider's cost report — OpenAI: pages of GET /v1/organization/costs
(bucket_width=1d, group_by=project_id,line_item); Anthropic: pages of the Admin
API GET /v1/organizations/cost_report (group_by=workspace_id,description) —
and compares it per UTC day and model with the cost the ledger metered over
the same days: both figures, the difference and its percentage of ours, and
lines present on one side only. --usage adds the provider's token counts
(OpenAI /v1/organization/usage/completions, Anthropic usage_report/messages
pages) against the metered tokens. --map (YAML) maps the provider's projects,
workspaces or API keys to our tenant, service_name and environment, names
models, and sets tolerance_percent and tolerance_usd. Then, per tenant and
model, the cost the spans themselves reported against ours.

Exits 1 when a day and model differ beyond the tolerance, is on one side only,
or has metered calls without a price: run it from cron or CI.`

type reconcileRow struct {
	Day           string  `json:"day"`
	Model         string  `json:"model"`
	MeteredUSD    string  `json:"metered_usd"`
	ProviderUSD   string  `json:"provider_usd"`
	DiffUSD       string  `json:"diff_usd"`
	DiffPct       *string `json:"diff_pct,omitempty"`
	MeteredCalls  int64   `json:"metered_calls"`
	UnpricedCalls int64   `json:"unpriced_calls"`
	MeteredInput  int64   `json:"metered_input_tokens"`
	MeteredOutput int64   `json:"metered_output_tokens"`
	// Provider tokens, when a usage report was given.
	ProviderInput  *int64 `json:"provider_input_tokens,omitempty"`
	ProviderOutput *int64 `json:"provider_output_tokens,omitempty"`
	Status         string `json:"status"`
}

type reportedRow struct {
	Tenant        string `json:"tenant"`
	Model         string `json:"model"`
	Calls         int64  `json:"calls"`
	MeteredUSD    string `json:"metered_usd"`
	ReportedUSD   string `json:"reported_usd"`
	MatchesCalls  int64  `json:"matches_calls"`
	DiffersCalls  int64  `json:"differs_calls"`
	UnpricedCalls int64  `json:"unpriced_calls"`
}

type reconcileOut struct {
	Provider string         `json:"provider"`
	From     string         `json:"from"`
	To       string         `json:"to"`
	Rows     []reconcileRow `json:"rows"`
	Findings int            `json:"findings"`
	Reported []reportedRow  `json:"reported_per_record"`
}

func runReconcile(args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db, pg := ledgerFlags(fs)
	provider := fs.String("provider", "", "openai or anthropic (required)")
	var costs, usages, prices []string
	fs.Func("usage", "provider usage report file (tokens: OpenAI /v1/organization/usage/completions, Anthropic usage_report/messages); repeat for more", func(v string) error {
		usages = append(usages, v)
		return nil
	})
	fs.Func("costs", "provider cost report file (JSON page, array or JSON Lines of pages); repeat for more", func(v string) error {
		costs = append(costs, v)
		return nil
	})
	fs.Func("prices", "price catalog FORMAT:PATH or FORMAT:URL, or embedded, to read the provider's model names (default: embedded)", func(v string) error {
		prices = append(prices, v)
		return nil
	})
	mapPath := fs.String("map", "", "mapping and tolerance file (YAML)")
	format := fs.String("format", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Errorf("%v\n%s", err, reconcileUsage)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *provider != reconcile.OpenAI && *provider != reconcile.Anthropic {
		return usageError{fmt.Errorf("--provider %q: want openai or anthropic\n%s", *provider, reconcileUsage)}
	}
	if len(costs) == 0 {
		return usageError{fmt.Errorf("--costs is required\n%s", reconcileUsage)}
	}
	if *format != "table" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want table or json", *format)}
	}
	cfg := &reconcile.Config{}
	if *mapPath != "" {
		var err error
		if cfg, err = reconcile.LoadConfig(*mapPath); err != nil {
			return err
		}
	}
	var lines []reconcile.Line
	for _, c := range costs {
		ls, err := reconcile.ParseFile(*provider, c)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	for _, u := range usages {
		ls, err := reconcile.ParseUsageFile(*provider, u)
		if err != nil {
			return err
		}
		lines = append(lines, ls...)
	}
	book, err := loadBook(prices, nil)
	if err != nil {
		return err
	}
	rc, err := reconcile.New(*provider, cfg, book, lines)
	if err != nil {
		return err
	}
	from, to := rc.Range()
	ctx := context.Background()
	l, closeLedger, err := balances.Open(ctx, balances.Target{SQLitePath: *db, PostgresURL: *pg}, entitlement.StaticSource(nil))
	if err != nil {
		return err
	}
	defer closeLedger()
	rep := reconcile.NewReported()
	if !from.IsZero() {
		if err := l.Records(ctx, from, to, func(r *usagerec.Record) error {
			if err := rc.Add(r); err != nil {
				return err
			}
			return rep.Add(r)
		}); err != nil {
			return err
		}
	}
	out := reconcileOut{Provider: *provider, From: from.Format("2006-01-02"), To: to.Format("2006-01-02"), Rows: []reconcileRow{}, Reported: []reportedRow{}}
	for _, r := range rc.Rows() {
		row := reconcileRow{Day: r.Day, Model: r.Model, MeteredUSD: money.Format(&r.MeteredUSD), ProviderUSD: money.Format(&r.ProviderUSD),
			DiffUSD: money.Format(&r.DiffUSD), MeteredCalls: r.MeteredCalls, UnpricedCalls: r.UnpricedCalls, Status: r.Status,
			MeteredInput: r.MeteredInput, MeteredOutput: r.MeteredOutput}
		if r.ProviderTokens {
			in, o := r.ProviderInput, r.ProviderOutput
			row.ProviderInput, row.ProviderOutput = &in, &o
		}
		if r.DiffPct != nil {
			s := money.Format(r.DiffPct)
			row.DiffPct = &s
		}
		if r.Finding() {
			out.Findings++
		}
		out.Rows = append(out.Rows, row)
	}
	for _, r := range rep.Rows() {
		out.Reported = append(out.Reported, reportedRow{Tenant: r.Tenant, Model: r.Model, Calls: r.Calls, MeteredUSD: money.Format(&r.MeteredUSD),
			ReportedUSD: money.Format(&r.ReportedUSD), MatchesCalls: r.Matches, DiffersCalls: r.Differs, UnpricedCalls: r.Unpriced})
	}
	if *format == "json" {
		if err := writeIndented(stdout, out); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "DAY\tMODEL\tMETERED_USD\tPROVIDER_USD\tDIFF_USD\tDIFF_PCT\tCALLS\tUNPRICED\tSTATUS\tTOKENS IN/OUT (METERED | PROVIDER)")
		for _, r := range out.Rows {
			pct := "-"
			if r.DiffPct != nil {
				pct = *r.DiffPct
			}
			toks := fmt.Sprintf("%d/%d", r.MeteredInput, r.MeteredOutput)
			if r.ProviderInput != nil {
				toks += fmt.Sprintf(" | %d/%d", *r.ProviderInput, *r.ProviderOutput)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.Day, r.Model, r.MeteredUSD, r.ProviderUSD, r.DiffUSD, pct, r.MeteredCalls, r.UnpricedCalls, r.Status, toks)
		}
		if len(out.Reported) > 0 {
			fmt.Fprintln(tw, "\nTENANT\tMODEL\tCALLS WITH A REPORTED COST\tMETERED_USD\tREPORTED_USD\tMATCHES\tDIFFERS")
			for _, r := range out.Reported {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%d\t%d\n", r.Tenant, r.Model, r.Calls, r.MeteredUSD, r.ReportedUSD, r.MatchesCalls, r.DiffersCalls)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if out.Findings > 0 {
		var which []string
		for _, r := range out.Rows {
			if r.Status != reconcile.StatusMatches {
				which = append(which, r.Day+" "+r.Model+" ("+r.Status+")")
			}
		}
		return fmt.Errorf("%d day and model lines beyond tolerance: %s", out.Findings, strings.Join(which, ", "))
	}
	return nil
}
