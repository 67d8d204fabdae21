package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
)

func init() {
	register("balances", command{
		summary: "rebuild the entitlement balances from the ledger's records",
		run:     runBalances,
	})
}

const balancesUsage = `usage: genaimeter balances rebuild (--db PATH | --postgres URL) --plans FILE

Drops the balances and daily usage rollups the genai_ledger exporter keeps and
replays every stored record, in ledger order, through the same allocation:
with the same plans it gives the same split as the incremental updates. Use it
after changing a plan retroactively.`

func runBalances(args []string, _ io.Reader, stdout, _ io.Writer) error {
	if len(args) == 0 || args[0] != "rebuild" {
		return usageError{errors.New(balancesUsage)}
	}
	fs := flag.NewFlagSet("balances rebuild", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db, pg := ledgerFlags(fs)
	plansPath := fs.String("plans", "", "plans file (required)")
	if err := fs.Parse(args[1:]); err != nil || *plansPath == "" {
		return usageError{fmt.Errorf("--plans is required\n%s", balancesUsage)}
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
	n, err := l.Rebuild(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt the balances from %d records\n", n)
	return nil
}
