package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/reprice"
	usagerec "github.com/genaimeter/genaimeter/internal/usage"
)

func init() {
	register("reprice", command{
		summary: "re-price the ledger's calls under other prices or rate cards (read only)",
		run:     runReprice,
	})
}

const repriceUsage = `usage: genaimeter reprice (--db PATH | --postgres URL) --since RFC3339 --until RFC3339 [--prices FORMAT:PATH]...
                          [--alias NAME=MODEL]... [--rate-card FILE] [--at RFC3339] [--format table|json]

Re-prices every call stored with since <= time < until from its raw usage,
with the layering and time rules of genai_cost: --prices layers catalogs as
pricing.sources does (default: the embedded snapshot), each call at its own
time, or every call at --at ("today's prices"). --rate-card (genai_cost's
pricing.revenue section as a file) re-prices revenue; without it the stored
revenue is kept. Per tenant, model and feature: cost and revenue now (stored)
and under the alternative, and the difference. Calls the alternative cannot
price are listed, never counted as 0. The ledger is only read.`

type repriceLine struct {
	Tenant      string `json:"tenant"`
	Model       string `json:"model"`
	Feature     string `json:"feature"`
	Calls       int64  `json:"calls"`
	Changed     int64  `json:"changed_calls"`
	CostNow     string `json:"cost_now_usd"`
	CostAlt     string `json:"cost_alt_usd"`
	CostDiff    string `json:"cost_diff_usd"`
	RevenueNow  string `json:"revenue_now_usd"`
	RevenueAlt  string `json:"revenue_alt_usd"`
	RevenueDiff string `json:"revenue_diff_usd"`
	UnpricedNow int64  `json:"unpriced_now_calls"`
	UnpricedAlt int64  `json:"unpriced_alt_calls"`
}

type repriceOut struct {
	Records      int64                 `json:"records"`
	Skipped      map[string]int64      `json:"skipped_without_usage"`
	ReportedKept int64                 `json:"reported_cost_kept"`
	Lines        []repriceLine         `json:"lines"`
	Total        repriceLine           `json:"total"`
	Unpriceable  []reprice.Unpriceable `json:"unpriceable"`
}

func lineOut(l reprice.Line) repriceLine {
	c, r := l.Diff()
	return repriceLine{Tenant: l.Tenant, Model: l.Model, Feature: l.Feature, Calls: l.Calls, Changed: l.Changed,
		CostNow: money.Format(&l.CostNow), CostAlt: money.Format(&l.CostAlt), CostDiff: money.Format(&c),
		RevenueNow: money.Format(&l.RevenueNow), RevenueAlt: money.Format(&l.RevenueAlt), RevenueDiff: money.Format(&r),
		UnpricedNow: l.UnpricedNow, UnpricedAlt: l.UnpricedAlt}
}

func runReprice(args []string, _ io.Reader, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("reprice", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db, pg := ledgerFlags(fs)
	var prices []string
	fs.Func("prices", "price catalog FORMAT:PATH or FORMAT:URL, or embedded; repeat to layer", func(v string) error {
		prices = append(prices, v)
		return nil
	})
	aliases := map[string]string{}
	fs.Func("alias", "NAME=MODEL, as pricing.aliases", func(v string) error {
		k, m, ok := strings.Cut(v, "=")
		if !ok {
			return fmt.Errorf("want NAME=MODEL, got %q", v)
		}
		aliases[k] = m
		return nil
	})
	cardPath := fs.String("rate-card", "", "rate cards file (pricing.revenue form); default: keep stored revenue")
	since := fs.String("since", "", "first call time included, RFC 3339 (required)")
	until := fs.String("until", "", "first call time excluded, RFC 3339 (required)")
	at := fs.String("at", "", "price every call at this time instead of its own, RFC 3339")
	format := fs.String("format", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return usageError{fmt.Errorf("%v\n%s", err, repriceUsage)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *format != "table" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want table or json", *format)}
	}
	var from, to, atT time.Time
	for _, f := range []struct {
		name, v string
		dst     *time.Time
		req     bool
	}{{"since", *since, &from, true}, {"until", *until, &to, true}, {"at", *at, &atT, false}} {
		if f.v == "" {
			if f.req {
				return usageError{fmt.Errorf("--%s is required\n%s", f.name, repriceUsage)}
			}
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.v)
		if err != nil {
			return usageError{fmt.Errorf("--%s %q: want an RFC 3339 time", f.name, f.v)}
		}
		*f.dst = t
	}
	if !from.Before(to) {
		return usageError{errors.New("--since must be before --until")}
	}
	book, err := loadBook(prices, aliases)
	if err != nil {
		return err
	}
	opts := reprice.Options{Book: book, At: atT}
	if *cardPath != "" {
		if opts.Cards, err = pricing.LoadRateCards(*cardPath); err != nil {
			return err
		}
	}
	rp, err := reprice.New(opts)
	if err != nil {
		return err
	}
	ctx := context.Background()
	l, closeLedger, err := balances.Open(ctx, balances.Target{SQLitePath: *db, PostgresURL: *pg}, entitlement.StaticSource(nil))
	if err != nil {
		return err
	}
	defer closeLedger()
	if err := l.Records(ctx, from, to, func(r *usagerec.Record) error {
		_, err := rp.Add(r)
		return err
	}); err != nil {
		return err
	}
	out := repriceOut{Records: rp.Records, Skipped: rp.Skipped, ReportedKept: rp.ReportedKept, Lines: []repriceLine{},
		Total: lineOut(rp.Totals()), Unpriceable: append([]reprice.Unpriceable{}, rp.Unpriceable...)}
	for _, ln := range rp.Lines() {
		out.Lines = append(out.Lines, lineOut(ln))
	}
	if *format == "json" {
		return writeIndented(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TENANT\tMODEL\tFEATURE\tCALLS\tCHANGED\tCOST_NOW\tCOST_ALT\tCOST_DIFF\tREVENUE_NOW\tREVENUE_ALT\tREVENUE_DIFF\tUNPRICED_ALT\t")
	for _, ln := range append(out.Lines, out.Total) {
		if ln.Tenant == "" && ln.Model == "" {
			ln.Tenant = "TOTAL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", ln.Tenant, ln.Model, ln.Feature, ln.Calls, ln.Changed,
			ln.CostNow, ln.CostAlt, ln.CostDiff, ln.RevenueNow, ln.RevenueAlt, ln.RevenueDiff, ln.UnpricedAlt)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(out.Unpriceable) > 0 {
		fmt.Fprintf(stdout, "\n%d calls the alternative cannot price (not counted as 0):\n", len(out.Unpriceable))
		for _, u := range out.Unpriceable {
			fmt.Fprintf(stdout, "  %s %s %s %s: %s\n", u.Time.Format(time.RFC3339), u.EventID, u.Tenant, u.Model, u.Reason)
		}
	}
	return nil
}
