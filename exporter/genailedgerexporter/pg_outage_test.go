package genailedgerexporter

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
)

// statusHost records the component statuses reported to it, as the
// collector's service does for the health check.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []componentstatus.Status
}

func (h *statusHost) Report(ev *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev.Status())
}

func (h *statusHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]componentstatus.Status(nil), h.events...)
}

// pgProxy forwards a loopback port to the test server once up is called;
// until then, connections to the port are refused (nothing listens), as
// with a PostgreSQL that is down.
type pgProxy struct {
	addr, target string
	ln           net.Listener
	wg           sync.WaitGroup
}

func newPGProxy(t *testing.T, target string) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &pgProxy{addr: ln.Addr().String(), target: target}
	require.NoError(t, ln.Close()) // down: the port refuses connections
	t.Cleanup(func() {
		if p.ln != nil {
			p.ln.Close()
		}
		p.wg.Wait()
	})
	return p
}

func (p *pgProxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	require.NoError(t, err)
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Add(2)
			go func() { defer p.wg.Done(); _, _ = io.Copy(s, c); s.Close() }()
			go func() { defer p.wg.Done(); _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
}

// TestPostgresDownAtStart: with PostgreSQL down, the exporter starts (it
// stopped the collector before: the OTLP port never opened and the queue
// never buffered), reports a recoverable error, keeps the batches in its
// sending queue, connects when the server comes back, reports OK, and every
// record arrives exactly once (issue 11, item 6).
func TestPostgresDownAtStart(t *testing.T) {
	dbURL := pgstoretest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	proxy := newPGProxy(t, u.Host)
	viaProxy := *u
	viaProxy.Host = proxy.addr

	oldInitial := pgRetryInitial
	pgRetryInitial = 50 * time.Millisecond
	t.Cleanup(func() { pgRetryInitial = oldInitial })

	cfg := createDefaultConfig().(*Config)
	pc := cfg.Postgres.GetOrInsertDefault()
	pc.Endpoint = viaProxy.String()
	pc.TLS.Insecure = true
	cfg.RetryConfig.InitialInterval = 20 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 200 * time.Millisecond
	require.NoError(t, cfg.Validate())

	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	host := &statusHost{Host: componenttest.NewNopHost()}
	require.NoError(t, exp.Start(context.Background(), host), "an unreachable server must not stop the collector")
	t.Cleanup(func() { require.NoError(t, exp.Shutdown(context.Background())) })
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses()[:1])

	// Accepted into the queue while the server is down.
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(usageLog(1), usageLog(2))))
	require.NoError(t, exp.ConsumeLogs(context.Background(), logsOf(usageLog(3), usageLog(2))))
	time.Sleep(300 * time.Millisecond) // a few refused attempts

	proxy.up(t)
	want := []string{record(1).EventID, record(2).EventID, record(3).EventID}
	var got []string
	require.Eventually(t, func() bool {
		got = eventIDs(t, dbURL)
		return len(got) >= len(want)
	}, 20*time.Second, 50*time.Millisecond, "the queued records are written once the server is back")
	time.Sleep(200 * time.Millisecond) // nothing more arrives
	assert.Equal(t, want, eventIDs(t, dbURL), "each record exactly once")
	st := host.statuses()
	assert.Equal(t, componentstatus.StatusOK, st[len(st)-1], "reported healthy once connected: %v", st)
}

// TestPostgresStartRefusedConfig: what waiting cannot fix still fails the
// start: a database that does not exist on a server that answers.
func TestPostgresStartRefusedConfig(t *testing.T) {
	u, err := url.Parse(pgstoretest.ServerURL(t))
	require.NoError(t, err)
	u.Path = "/no_such_database_genaimeter"
	cfg := createDefaultConfig().(*Config)
	pc := cfg.Postgres.GetOrInsertDefault()
	pc.Endpoint = u.String()
	pc.TLS.Insecure = true
	e := newLedgerExporter(cfg, exportertest.NewNopSettings(metadata.Type))
	err = e.start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `database "no_such_database_genaimeter" does not exist (SQLSTATE 3D000)`)
	require.NoError(t, e.shutdown(context.Background()))
}

func eventIDs(t *testing.T, dbURL string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT event_id FROM usage_records ORDER BY event_id`)
	if err != nil {
		var pgErr interface{ SQLState() string }
		if errors.As(err, &pgErr) && pgErr.SQLState() == "42P01" { // not migrated yet
			return nil
		}
		require.NoError(t, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return ids
}
