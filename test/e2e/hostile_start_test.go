package e2e

import (
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
)

// pgDownConfig writes to PostgreSQL through {{PGPROXY}}, with the sending
// queue on disk.
const pgDownConfig = `
extensions:
  file_storage:
    directory: {{DIR}}/queue
    create_directory: true
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      tenant: [tenant.id, tenant_id]
connectors:
  genai_usage:
exporters:
  genai_ledger:
    postgres:
      endpoint: {{PGPROXY}}
      tls:
        insecure: true
    sending_queue:
      storage: file_storage
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
service:
  extensions: [file_storage]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// TestCollectorStartsWithPostgresDown: the built collector starts with
// PostgreSQL down (it exited before: the OTLP port never opened), accepts
// calls into its queue, and once the server is back every call is in the
// ledger exactly once (issue 11, item 6).
func TestCollectorStartsWithPostgresDown(t *testing.T) {
	dbURL := pgstoretest.NewDatabase(t)
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	// A loopback port that refuses connections until up() forwards it to
	// the real server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	proxyAddr := ln.Addr().String()
	require.NoError(t, ln.Close())
	viaProxy := *u
	viaProxy.Host = proxyAddr

	c := startCollector(t, strings.ReplaceAll(pgDownConfig, "{{PGPROXY}}", viaProxy.String()))
	root := repoRoot(t)
	for _, name := range []string{"otel-openai", "traceloop-openai", "traceloop-anthropic", "openinference-openai", "vercel-ai"} {
		c.sendFile(t, filepath.Join(root, "testdata", "realclients", name+".otlp.jsonl"))
	}
	time.Sleep(time.Second)
	assert.Contains(t, c.out.String(), "PostgreSQL cannot be reached: starting unconnected")

	var wg sync.WaitGroup
	ln, err = net.Listen("tcp", proxyAddr)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			srv, err := net.Dial("tcp", u.Host)
			if err != nil {
				conn.Close()
				continue
			}
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(srv, conn); srv.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(conn, srv); conn.Close() }()
		}
	}()

	want := map[string]bool{}
	for _, r := range realClientRecords {
		want[r.trace+r.span] = true
	}
	count := func() (int, int) {
		conn, err := pgx.Connect(context.Background(), dbURL)
		if err != nil {
			return 0, 0
		}
		defer conn.Close(context.Background())
		var rows, distinct int
		if err := conn.QueryRow(context.Background(), `SELECT count(*), count(DISTINCT event_id) FROM usage_records`).Scan(&rows, &distinct); err != nil {
			return 0, 0
		}
		return rows, distinct
	}
	require.Eventually(t, func() bool { n, _ := count(); return n >= len(want) }, 60*time.Second, 200*time.Millisecond,
		"the queued calls reach PostgreSQL once it is back; output:\n%s", c.out)
	c.stop(t)
	rows, distinct := count()
	assert.Equal(t, len(want), rows, "every call exactly once")
	assert.Equal(t, len(want), distinct)
	assert.Contains(t, c.out.String(), "PostgreSQL reached: writing the queued records")
}

// TestValidatePassesWhatStartRefuses: the configuration with an undeclared
// storage extension id (and missing files, a negative price) passes the
// collector's validate — Validate is pure — while `genaimeter check-config`
// names every problem, and the start names the missing id (issue 11,
// item 8).
func TestValidatePassesWhatStartRefuses(t *testing.T) {
	bin := collectorBinary(t)
	// A copy of cmd/genaimeter/testdata/checkconfig: the file's relative
	// paths (and the queue directories file_storage creates) land there.
	dir := t.TempDir()
	src := filepath.Join(repoRoot(t), "cmd", "genaimeter", "testdata", "checkconfig")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "testdata", "checkconfig"), 0o755))
	for _, f := range []string{"bad.yaml", "negative-price.yaml"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "testdata", "checkconfig", f), b, 0o600))
	}
	validate := exec.Command(bin, "validate", "--config=testdata/checkconfig/bad.yaml")
	validate.Dir = dir
	out, err := validate.CombinedOutput()
	require.NoError(t, err, "validate passes it:\n%s", out)

	check := exec.Command(filepath.Join(repoRoot(t), "bin", "genaimeter"), "check-config", "testdata/checkconfig/bad.yaml")
	check.Dir = dir
	out, err = check.Output()
	require.Error(t, err)
	assert.Contains(t, string(out), `processors.genai_cost.attribution.ancestors.storage: extension "file_storage/held" is not declared under extensions`)
	assert.Contains(t, string(out), `exporters.genai_ledger.sending_queue.storage: extension "file_storage/declared_only" is declared but not listed in service.extensions`)

	run := exec.Command(bin, "--config=testdata/checkconfig/bad.yaml")
	run.Dir = dir
	done := make(chan []byte, 1)
	go func() { b, _ := run.CombinedOutput(); done <- b }()
	select {
	case out = <-done:
	case <-time.After(60 * time.Second):
		_ = run.Process.Kill()
		t.Fatalf("the collector did not stop on the bad configuration")
	}
	// The exporters start first: the first refusal names the queue's id.
	assert.Contains(t, string(out), `sending_queue.storage: extension "file_storage/declared_only" not found`)
}
