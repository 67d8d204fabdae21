package genailedgerexporter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/store/pgstore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// postgresSink writes to a PostgreSQL ledger.
//
// A server that cannot be reached at start does not stop the collector: the
// OTLP receiver must open and the sending queue (persistent with
// file_storage) must buffer, or the calls of the outage are lost at their
// source. The sink starts unconnected, reports a recoverable error
// (componentstatus: the health check shows it), refuses batches with a
// retryable error — they stay in the queue — and connects in the background,
// with backoff, until the server answers; then it migrates the schema and
// reports OK. What cannot be an outage still fails the start: a malformed
// endpoint or TLS setting, a refused password, a missing database, a schema
// newer than this binary.
type postgresSink struct {
	cfg      *PostgresConfig
	balances *component.ID
	logger   *zap.Logger

	store atomic.Pointer[pgstore.Store]
	// unconnected is why store is nil while the background loop connects.
	unconnected atomic.Pointer[string]
	host        component.Host
	// healthy is the status last reported (to report changes only).
	healthy atomic.Bool
	stop    context.CancelFunc
	done    chan struct{}
}

// Reconnection backoff of the background loop.
var (
	pgRetryInitial = time.Second
	pgRetryMax     = 30 * time.Second
	pgStartTimeout = 10 * time.Second
)

func (s *postgresSink) Start(ctx context.Context, host component.Host) error {
	if s.logger == nil {
		s.logger = zap.NewNop()
	}
	s.host = host
	pc, err := s.cfg.poolConfig(ctx)
	if err != nil {
		return err
	}
	// Bounded: a host that drops packets must not hold the collector's start.
	octx, cancel := context.WithTimeout(ctx, pgStartTimeout)
	err = s.open(octx, host, pc)
	cancel()
	if err == nil {
		s.healthy.Store(true)
		return nil
	}
	if !isOutage(err) {
		return err
	}
	msg := err.Error()
	s.unconnected.Store(&msg)
	componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
	s.logger.Warn("PostgreSQL cannot be reached: starting unconnected; records stay in the sending queue and are written once it is back",
		zap.Error(err))
	bg, stop := context.WithCancel(context.Background())
	s.stop, s.done = stop, make(chan struct{})
	go s.connectLoop(bg, host, pc)
	return nil
}

// open connects, migrates the schema and catches the balances up.
func (s *postgresSink) open(ctx context.Context, host component.Host, pc *pgxpool.Config) error {
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
	s.store.Store(st)
	return nil
}

// connectLoop tries to open the store until it succeeds or the sink is shut
// down, doubling the wait up to pgRetryMax.
func (s *postgresSink) connectLoop(ctx context.Context, host component.Host, pc *pgxpool.Config) {
	defer close(s.done)
	wait := pgRetryInitial
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		actx, cancel := context.WithTimeout(ctx, pgRetryMax)
		err := s.open(actx, host, pc.Copy())
		cancel()
		if err == nil {
			s.logger.Info("PostgreSQL reached: writing the queued records")
			s.setHealthy(true, nil)
			return
		}
		if ctx.Err() != nil {
			return
		}
		msg := err.Error()
		s.unconnected.Store(&msg)
		s.logger.Warn("PostgreSQL still cannot be reached", zap.Error(err), zap.Duration("next_attempt_in", min(2*wait, pgRetryMax)))
		componentstatus.ReportStatus(host, componentstatus.NewRecoverableErrorEvent(err))
		wait = min(2*wait, pgRetryMax)
	}
}

// isOutage tells a server that cannot be reached now (refused, timed out,
// starting up, too many connections) from a configuration the server
// refuses, which waiting will not fix and which must fail the start.
func isOutage(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "28"), // invalid authorization: user or password
			strings.HasPrefix(pgErr.Code, "3D"), // no such database
			strings.HasPrefix(pgErr.Code, "42"): // syntax or permission: the schema cannot be created
			return false
		}
		return true
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return false
	}
	var connErr *pgconn.ConnectError
	return errors.As(err, &connErr) || pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)
}

// setHealthy reports a change of health to the collector.
func (s *postgresSink) setHealthy(ok bool, err error) {
	if s.healthy.Swap(ok) == ok || s.host == nil {
		return
	}
	if ok {
		componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusOK))
	} else {
		componentstatus.ReportStatus(s.host, componentstatus.NewRecoverableErrorEvent(err))
	}
}

func (s *postgresSink) Write(ctx context.Context, recs []usage.Record) (writeResult, error) {
	st := s.store.Load()
	if st == nil {
		why := "not started"
		if m := s.unconnected.Load(); m != nil {
			why = *m
		}
		return writeResult{}, fmt.Errorf("genai_ledger: PostgreSQL not connected yet, the batch stays queued: %s", why)
	}
	ins, dup, err := st.Insert(ctx, recs)
	if err != nil {
		if pgstore.IsPermanent(err) {
			return writeResult{}, consumererror.NewPermanent(err)
		}
		s.setHealthy(false, err)
		return writeResult{}, err
	}
	s.setHealthy(true, nil)
	return writeResult{Written: ins, Duplicates: dup}, nil
}

func (s *postgresSink) Shutdown(context.Context) error {
	if s.stop != nil {
		s.stop()
		<-s.done
		s.stop = nil
	}
	if st := s.store.Swap(nil); st != nil {
		st.Close()
	}
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
