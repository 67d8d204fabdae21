package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/printable"
)

func init() {
	register("keys", command{
		summary: "create, list and revoke API keys of the usage service",
		run:     runKeys,
	})
}

const keysUsage = `usage: genaimeter keys create (--db PATH | --postgres URL) (--tenant ID | --admin) [--note TEXT]
       genaimeter keys list   (--db PATH | --postgres URL)
       genaimeter keys revoke (--db PATH | --postgres URL) KEY_ID

create prints the new key's token on stdout, once: only its hash is stored.
A tenant key sees its own tenant only; an admin key sees every tenant and
manages grants. revoke takes effect on the next request. Every change is
audited in the ledger.`

func ledgerFlags(fs *flag.FlagSet) (db, pg *string) {
	db = fs.String("db", "", "SQLite ledger file")
	pg = fs.String("postgres", "", "PostgreSQL ledger URL")
	return db, pg
}

func runKeys(args []string, _ io.Reader, stdout, _ io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("missing subcommand (create, list or revoke)\n" + keysUsage)}
	}
	sub := args[0]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	db, pg := ledgerFlags(fs)
	tenant := fs.String("tenant", "", "tenant of the key")
	admin := fs.Bool("admin", false, "an admin key")
	note := fs.String("note", "", "what the key is for")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{fmt.Errorf("%w\n%s", err, keysUsage)}
	}
	ctx := context.Background()
	open := func() (*balances.Ledger, func(), error) {
		return balances.Open(ctx, balances.Target{SQLitePath: *db, PostgresURL: *pg}, entitlement.StaticSource(&entitlement.Plans{}))
	}
	switch sub {
	case "create":
		if (*tenant == "") == !*admin {
			return usageError{errors.New("give --tenant ID or --admin\n" + keysUsage)}
		}
		l, closeLedger, err := open()
		if err != nil {
			return err
		}
		defer closeLedger()
		tok, _, err := l.CreateKey(ctx, *tenant, *note, "cli")
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, tok)
	case "list":
		l, closeLedger, err := open()
		if err != nil {
			return err
		}
		defer closeLedger()
		keys, err := l.Keys(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-16s  %-20s  %-20s  %-8s  %s\n", "KEY_ID", "TENANT", "CREATED", "STATUS", "NOTE")
		for _, k := range keys {
			t, status := k.Tenant, "active"
			if k.Admin() {
				t = "(admin)"
			}
			if !k.Revoked.IsZero() {
				status = "revoked"
			}
			fmt.Fprintf(stdout, "%-16s  %-20s  %-20s  %-8s  %s\n", k.ID, printable.Escape(t), k.Created.Format(time.RFC3339), status, printable.Escape(k.Note))
		}
	case "revoke":
		if fs.NArg() != 1 {
			return usageError{errors.New("give one KEY_ID\n" + keysUsage)}
		}
		l, closeLedger, err := open()
		if err != nil {
			return err
		}
		defer closeLedger()
		if err := l.RevokeKey(ctx, fs.Arg(0), "cli"); err != nil {
			if errors.Is(err, balances.ErrNotFound) {
				return fmt.Errorf("no key %q", fs.Arg(0))
			}
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", fs.Arg(0))
	default:
		return usageError{fmt.Errorf("unknown subcommand %q\n%s", sub, keysUsage)}
	}
	return nil
}
