package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
)

// usageServicePGConfig is usageServiceConfig writing to a shared PostgreSQL
// ledger.
const usageServicePGConfig = `
extensions:
  genai_usage_service:
    plans: {{PLANS}}
    postgres:
      endpoint: {{PG}}
    http:
      endpoint: 127.0.0.1:{{API}}
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      tenant: [tenant.id]
    pricing:
      revenue:
        default:
          rates: {input_mtok: 1000, output_mtok: 4000}
          usd_per_credit: 0.01
connectors:
  genai_usage:
exporters:
  genai_ledger:
    postgres:
      endpoint: {{PG}}
      tls:
        insecure: true
    balances: genai_usage_service
service:
  extensions: [genai_usage_service]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// TestUsageServiceTwoCollectorsOnePostgres: two collectors write one
// PostgreSQL ledger at the same time; "genaimeter serve" answers beside them.
// The balances are exact (each call once, included, then the grant, then
// overage), replays through the other collector change nothing, and a
// rebuild from the records gives the same split.
func TestUsageServiceTwoCollectorsOnePostgres(t *testing.T) {
	bin := collectorBinary(t)
	cli := filepath.Join(filepath.Dir(bin), "genaimeter")
	pg := pgstoretest.NewDatabase(t)
	plans := filepath.Join(t.TempDir(), "plans.yaml")
	writeFile(t, plans, usageServicePlans)
	start := func() *collector {
		return startCollector(t, strings.NewReplacer("{{API}}", strconv.Itoa(freePort(t)), "{{PLANS}}", plans, "{{PG}}", pg).Replace(usageServicePGConfig))
	}
	c1, c2 := start(), start()

	serve := exec.Command(cli, "serve", "--postgres", pg, "--plans", plans, "--listen", "127.0.0.1:0")
	stdout, err := serve.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, serve.Start())
	t.Cleanup(func() { _ = serve.Process.Kill(); _ = serve.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	m := regexp.MustCompile(`usage service on (http://\S+)`).FindStringSubmatch(line)
	require.NotNil(t, m, line)
	client := apiClient{t: t, base: m[1]}

	key := func(args ...string) string {
		out, err := exec.Command(cli, append([]string{"keys", "create", "--postgres", pg}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	admin, acme := key("--admin"), key("--tenant", "acme")
	code, g := client.do(admin, "POST", "/v1/tenants/acme/grants", map[string]any{"amount": "2000"})
	require.Equal(t, 201, code, "%v", g)

	// 70 calls of 200 credits, in 14 requests spread over both collectors at once.
	now := time.Now().UTC()
	var wg sync.WaitGroup
	for r := range 14 {
		c := []*collector{c1, c2}[r%2]
		wg.Go(func() { c.post(t, creditCalls("acme", r*5, 5, now)) })
	}
	wg.Wait()
	count := func() int { return countPG(pg) }
	require.Eventually(t, func() bool { return count() == 70 }, 60*time.Second, 50*time.Millisecond)

	check := func() {
		t.Helper()
		code, e := client.do(acme, "GET", "/v1/tenants/acme/entitlements", nil)
		require.Equal(t, 200, code, "%v", e)
		b := balance(e, "credits")
		assert.Equal(t, []any{"14000", "10000", "2000", "2000", "20"},
			[]any{b["used"], b["included"], b["granted"], b["overage"], b["overage_usd"]})
		_, chk := client.do(acme, "GET", "/v1/tenants/acme/check", nil)
		assert.Equal(t, "limit_reached", chk["reason"])
	}
	// Balances commit with the records: no waiting once they are counted.
	check()

	// Every call replayed, each through the other collector.
	for r := range 14 {
		c := []*collector{c2, c1}[r%2]
		c.post(t, creditCalls("acme", r*5, 5, now))
	}
	// A sentinel call per collector: once both are stored, the replays before
	// them have been through their pipelines' ledger writes.
	c1.post(t, creditCalls("sentinel", 1, 1, now))
	c2.post(t, creditCalls("sentinel", 2, 1, now))
	require.Eventually(t, func() bool { return count() == 72 }, 60*time.Second, 50*time.Millisecond)
	check()

	// A graceful stop flushes the queues: every replay has reached the ledger.
	c1.stop(t)
	c2.stop(t)
	assert.Equal(t, 72, count())
	check()
	out, err := exec.Command(cli, "balances", "rebuild", "--postgres", pg, "--plans", plans).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "rebuilt the balances from 72 records\n", string(out))
	check()
}
