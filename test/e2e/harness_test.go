// Package e2e runs the ocb-built otelcol-genaimeter binary on loopback and
// drives it the way a user does: OTLP in, usage records out.
package e2e

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// repoRoot is the module root, found from this file's location so that the
// test works from any working directory.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	require.True(t, ok)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// collectorBinary is the distribution `make build` produces. `make test` builds
// it first; run the tests with -short to leave out the end-to-end ones.
func collectorBinary(t testing.TB) string {
	if testing.Short() {
		t.Skip("end-to-end test: needs the built collector (make build)")
	}
	bin := filepath.Join(repoRoot(t), "bin", "otelcol-genaimeter")
	_, err := os.Stat(bin)
	require.NoError(t, err, "the collector binary is missing: run `make build` (make test does)")
	return bin
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// lockedBuffer is the collector's output: the process's stdout/stderr copier
// writes it while a test reads it (assertions on log lines, failure
// messages), so both go through one mutex.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type collector struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	http   string // OTLP/HTTP base URL
	dbPath string
	dir    string
	// What run needs to start the process again (restart).
	bin, cfgPath string
	httpPort     int
}

// startCollector writes config (with {{HTTP}}, {{GRPC}}, {{DB}}, {{DIR}}
// substituted) into a temp dir and runs the collector until the test ends.
func startCollector(t testing.TB, config string) *collector {
	t.Helper()
	return startCollectorBinary(t, collectorBinary(t), config)
}

// startCollectorBinary is startCollector with another build than
// otelcol-genaimeter (ocbBuild.binary).
func startCollectorBinary(t testing.TB, bin, config string) *collector {
	t.Helper()
	dir := t.TempDir()
	httpPort, grpcPort := freePort(t), freePort(t)
	c := &collector{
		out:    &lockedBuffer{},
		http:   fmt.Sprintf("http://127.0.0.1:%d", httpPort),
		dbPath: filepath.Join(dir, "usage.db"),
		dir:    dir,
	}
	r := strings.NewReplacer("{{HTTP}}", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"{{GRPC}}", fmt.Sprintf("127.0.0.1:%d", grpcPort), "{{DB}}", c.dbPath, "{{DIR}}", dir)
	cfgPath := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(r.Replace(config)), 0o600))
	c.bin, c.cfgPath, c.httpPort = bin, cfgPath, httpPort
	t.Cleanup(func() { c.stop(t) })
	c.run(t)
	return c
}

// run starts the collector process and waits for its OTLP/HTTP port.
func (c *collector) run(t testing.TB) {
	t.Helper()
	c.cmd = exec.Command(c.bin, "--config="+c.cfgPath)
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	require.NoError(t, c.cmd.Start())
	require.Eventually(t, func() bool {
		conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", c.httpPort), 200*time.Millisecond)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}, 30*time.Second, 50*time.Millisecond, "collector did not open its OTLP/HTTP port; output:\n%s", c.out)
}

// kill ends the collector with SIGKILL, as a crash would: nothing is flushed.
func (c *collector) kill(t testing.TB) {
	t.Helper()
	require.NoError(t, c.cmd.Process.Kill())
	_ = c.cmd.Wait()
}

// restart runs the collector again with the same directory, config and ports.
func (c *collector) restart(t testing.TB) {
	t.Helper()
	require.NotNil(t, c.cmd.ProcessState, "restart after stop or kill")
	c.run(t)
}

// stop ends the collector gracefully so that queued records are flushed.
func (c *collector) stop(t testing.TB) {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
		t.Errorf("collector did not stop within 30s; output:\n%s", c.out)
	}
}

// sendFile posts each line of an OTLP/JSON lines file to /v1/traces.
func (c *collector) sendFile(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		c.post(t, line, "collector refused %s", path)
	}
}

// post sends one OTLP/JSON export request to /v1/traces and requires a 200.
func (c *collector) post(t *testing.T, body []byte, msgAndArgs ...any) {
	t.Helper()
	resp, err := http.Post(c.http+"/v1/traces", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, msgAndArgs...)
}

// readOnlyDSN opens the ledger at path read-only, waiting on the collector's
// write lock instead of failing.
func readOnlyDSN(path string) string {
	return "file:" + path + "?mode=ro&_pragma=busy_timeout(5000)"
}

func openDB(t *testing.T, path string) *sql.DB {
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// waitRows waits until the ledger holds n records.
func waitRows(t *testing.T, c *collector, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return countSQLite(c.dbPath) >= n
	}, 30*time.Second, 100*time.Millisecond, "ledger did not reach %d records; collector output:\n%s", n, c.out)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}
