package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/finance"
)

func init() {
	register("report", command{
		summary: "margin per tenant and plan, and invoice previews, for a billing period",
		run:     runReport,
	})
}

const reportUsage = `usage: genaimeter report margin  (--db PATH | --postgres URL) --plans FILE --period YYYY-MM [--format table|json|csv]
       genaimeter report invoice (--db PATH | --postgres URL) --plans FILE --period YYYY-MM --tenant T [--format table|json]

margin: for every tenant, its billing period starting in the month: plan fee,
allowances used, overage, rate-card usage revenue, revenue billed, AI cost,
gross margin (USD and %), priced and unpriced calls (the cost does not cover
the unpriced ones), by feature and model (json), then per plan with the median
cost and heavy users. Flags: negative_margin, cost_outgrew_revenue (against the
previous month), heavy_user, unpriced_calls, unknown_plan.

invoice: what the tenant will be billed for the period (no cost, no margin).

Plan fees, allowances and overage are the plans file's and the balances the
ledger's writers keep (genai_usage_service); amounts are exact decimals.`

func runReport(args []string, _ io.Reader, stdout, _ io.Writer) error {
	if len(args) == 0 || (args[0] != "margin" && args[0] != "invoice") {
		return usageError{errors.New(reportUsage)}
	}
	sub := args[0]
	fs := flag.NewFlagSet("report "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db, pg := ledgerFlags(fs)
	plansPath := fs.String("plans", "", "plans file (required)")
	period := fs.String("period", "", "month YYYY-MM (required)")
	tenant := fs.String("tenant", "", "tenant (invoice)")
	format := fs.String("format", "table", "table, json or csv (margin)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{fmt.Errorf("%v\n%s", err, reportUsage)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if *plansPath == "" || *period == "" {
		return usageError{fmt.Errorf("--plans and --period are required\n%s", reportUsage)}
	}
	p, err := finance.ParsePeriod(*period)
	if err != nil {
		return usageError{fmt.Errorf("--%v", err)}
	}
	switch {
	case *format != "table" && *format != "json" && *format != "csv":
		return usageError{fmt.Errorf("--format %q: want table, json or csv", *format)}
	case sub == "invoice" && *tenant == "":
		return usageError{fmt.Errorf("--tenant is required\n%s", reportUsage)}
	case sub == "invoice" && *format == "csv":
		return usageError{errors.New("--format csv: an invoice is table or json")}
	case sub == "margin" && *tenant != "":
		return usageError{errors.New("--tenant: margin reports every tenant (see report invoice)")}
	}
	ps, err := entitlement.Load(*plansPath)
	if err != nil {
		return err
	}
	ctx := context.Background()
	l, closeLedger, err := balances.Open(ctx, balances.Target{SQLitePath: *db, PostgresURL: *pg}, entitlement.StaticSource(ps))
	if err != nil {
		return err
	}
	defer closeLedger()
	if sub == "invoice" {
		inv, err := finance.InvoiceOf(ctx, l, p, *tenant, time.Now())
		if err != nil {
			return err
		}
		if inv == nil {
			return fmt.Errorf("tenant %q has no plan, balances or calls in %s", *tenant, p.Name)
		}
		if *format == "json" {
			return writeIndented(stdout, inv)
		}
		return inv.WriteTable(stdout)
	}
	rep, err := finance.MarginReport(ctx, l, p)
	if err != nil {
		return err
	}
	switch *format {
	case "json":
		return writeIndented(stdout, rep.JSON())
	case "csv":
		return rep.WriteCSV(stdout)
	}
	return rep.WriteTable(stdout)
}

func writeIndented(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
