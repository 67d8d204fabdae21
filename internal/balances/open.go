package balances

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
)

// Target is the ledger a usage service reads: a SQLite file or a PostgreSQL URL.
type Target struct {
	SQLitePath  string
	PostgresURL string
}

// Open opens and migrates the target's ledger and returns its balances
// (not attached: the writers' insert hooks keep them) and a closer.
func Open(ctx context.Context, t Target, plans *entitlement.Source) (*Ledger, func(), error) {
	switch {
	case t.SQLitePath != "" && t.PostgresURL != "":
		return nil, nil, errors.New("give a SQLite path or a PostgreSQL URL, not both")
	case t.SQLitePath != "":
		st, err := sqlitestore.Open(t.SQLitePath)
		if err != nil {
			return nil, nil, err
		}
		if err := st.Migrate(ctx); err != nil {
			_ = st.Close()
			return nil, nil, err
		}
		return ForSQLite(st, plans, false), func() { _ = st.Close() }, nil
	case t.PostgresURL != "":
		cfg, err := pgxpool.ParseConfig(t.PostgresURL)
		if err != nil {
			return nil, nil, err
		}
		st, err := pgstore.Open(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		if err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, nil, err
		}
		return ForPostgres(st, plans, false), st.Close, nil
	}
	return nil, nil, errors.New("a SQLite path or a PostgreSQL URL is required")
}

// Provider is what the genai_usage_service extension offers the
// genai_ledger exporter: the plans under which the exporter's inserts keep
// the balances.
type Provider interface {
	BalancesPlans() *entitlement.Source
}
