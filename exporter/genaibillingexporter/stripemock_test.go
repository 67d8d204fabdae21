package genaibillingexporter

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// startStripeMock runs the real stripe-mock on two free loopback ports (both
// flags: without -https-addr it listens on all interfaces) and stops it at
// the end of the test. Under CI=true a missing binary fails the test; .ci/run
// installs it.
func startStripeMock(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		if gopath, e := exec.Command("go", "env", "GOPATH").Output(); e == nil {
			p := filepath.Join(string(trimNL(gopath)), "bin", "stripe-mock")
			if _, e := os.Stat(p); e == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("stripe-mock not installed (go install github.com/stripe/stripe-mock@v0.203.0): %v", err)
		}
		t.Skipf("stripe-mock not installed: %v", err)
	}
	httpPort, httpsPort := freePort(t), freePort(t)
	cmd := exec.Command(bin, "-http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort), "-https-addr", fmt.Sprintf("127.0.0.1:%d", httpsPort))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/v1/customers")
		if err == nil {
			resp.Body.Close()
			return url
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestStripeMockV1 sends v1 meter events to the real stripe-mock, which
// validates the form body against Stripe's OpenAPI spec: every event is
// accepted (sent counter), and a wrong key is refused as permanent and
// dead-lettered with Stripe's answer.
func TestStripeMockV1(t *testing.T) {
	url := startStripeMock(t)
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.Backend = backendStripe
	cfg.APIKey = "sk_test_123"
	cfg.ClientConfig.Endpoint = url
	cfg.Customers.File = writeCustomers(t, dir, stormCustomers)
	cfg.DeadLetter.Path = filepath.Join(dir, "dead.jsonl")
	cfg.Meters = []MeterConfig{{Name: "genai_tokens", Value: valueTotalTokens}, {Name: "genai_cost", Value: valueCostUSD, Scale: costScale}}
	require.NoError(t, cfg.Validate())

	recs := stormRecords(20)
	e := newTestExporter(t, cfg)
	require.NoError(t, e.pushLogs(context.Background(), toLogs(recs)))
	dead := readDeadLetters(t, cfg.DeadLetter.Path)
	byReason := map[string]int{}
	for _, d := range dead {
		byReason[d.Reason]++
	}
	// stripe-mock accepts every well-formed event, including cus_bad.
	require.Equal(t, map[string]int{reasonUnmappedTenant: 3, reasonNoValue: 2}, byReason)

	// A key stripe-mock does not accept: 401, permanent, dead-lettered with the body.
	cfg2 := *cfg
	cfg2.APIKey = "not_a_key"
	cfg2.DeadLetter.Path = filepath.Join(dir, "dead2.jsonl")
	e2 := newTestExporter(t, &cfg2)
	require.NoError(t, e2.pushLogs(context.Background(), toLogs([]usage.Record{recs[0]})))
	dead2 := readDeadLetters(t, cfg2.DeadLetter.Path)
	require.Len(t, dead2, 2)
	for _, d := range dead2 {
		require.Equal(t, reasonRejected, d.Reason)
		require.Equal(t, http.StatusUnauthorized, d.Event.Status)
		require.Contains(t, d.Event.Response, "error")
	}
}

// newTestExporter starts an exporter without exporterhelper, to call pushLogs
// directly.
func newTestExporter(t *testing.T, cfg *Config) *billingExporter {
	t.Helper()
	e, err := newBillingExporter(cfg, exportertest.NewNopSettings(NewFactory().Type()), time.Now)
	require.NoError(t, err)
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e
}
