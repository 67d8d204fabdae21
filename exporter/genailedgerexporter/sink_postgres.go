package genailedgerexporter

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// postgresSink writes to a PostgreSQL ledger.
type postgresSink struct {
	cfg      *PostgresConfig
	balances *component.ID
	store    *pgstore.Store
}

func (s *postgresSink) Start(ctx context.Context, host component.Host) error {
	pc, err := s.cfg.poolConfig(ctx)
	if err != nil {
		return err
	}
	st, err := pgstore.Open(ctx, pc)
	if err != nil {
		return err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return err
	}
	if s.balances != nil {
		plans, err := balancesPlans(host, *s.balances)
		if err == nil {
			_, err = balances.ForPostgres(st, plans, true).CatchUp(ctx)
		}
		if err != nil {
			st.Close()
			return err
		}
	}
	s.store = st
	return nil
}

func (s *postgresSink) Write(ctx context.Context, recs []usage.Record) (WriteResult, error) {
	ins, dup, err := s.store.Insert(ctx, recs)
	if err != nil {
		if pgstore.IsPermanent(err) {
			return WriteResult{}, consumererror.NewPermanent(err)
		}
		return WriteResult{}, err
	}
	return WriteResult{Written: ins, Duplicates: dup}, nil
}

func (s *postgresSink) Shutdown(context.Context) error {
	s.store.Close()
	s.store = nil
	return nil
}

// poolConfig builds the pgx pool configuration: the endpoint URL, then the
// password and TLS from their own keys, which win over libpq environment
// variables (PGSSLMODE...) and over pgx's "prefer" default, which would
// silently fall back to a plain connection.
func (c *PostgresConfig) poolConfig(ctx context.Context) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(c.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("postgres.endpoint: %w", err)
	}
	pc.MaxConns = c.MaxConns
	if c.Password != "" {
		pc.ConnConfig.Password = string(c.Password)
	}
	tc, err := c.TLS.LoadTLSConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres.tls: %w", err)
	}
	// tlsFor gives each host its own copy with its name to verify.
	tlsFor := func(host string) *tls.Config {
		if tc == nil { // tls.insecure: a plain connection
			return nil
		}
		t := tc.Clone()
		if t.ServerName == "" {
			t.ServerName = host
		}
		return t
	}
	pc.ConnConfig.TLSConfig = tlsFor(pc.ConnConfig.Host)
	// Keep one fallback per further host of a multi-host URL, with our TLS
	// setting, and drop pgx's plain-text retries of a host.
	seen := map[string]bool{fmt.Sprintf("%s:%d", pc.ConnConfig.Host, pc.ConnConfig.Port): true}
	var fbs []*pgconn.FallbackConfig
	for _, fb := range pc.ConnConfig.Fallbacks {
		k := fmt.Sprintf("%s:%d", fb.Host, fb.Port)
		if seen[k] {
			continue
		}
		seen[k] = true
		fb.TLSConfig = tlsFor(fb.Host)
		fbs = append(fbs, fb)
	}
	pc.ConnConfig.Fallbacks = fbs
	return pc, nil
}
