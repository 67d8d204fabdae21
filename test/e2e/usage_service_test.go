package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// usageServiceConfig prices every call with a rate card in credits (1,000
// credits per million input tokens, 4,000 per million output, 1 credit =
// $0.01), keeps the balances in the ledger under the plans of the
// genai_usage_service extension, which serves the API.
const usageServiceConfig = `
extensions:
  genai_usage_service:
    plans: {{PLANS}}
    sqlite:
      path: {{DB}}
    http:
      endpoint: 127.0.0.1:{{API}}
    rate_limit: {per_second: 10000, burst: 1000}
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
    sqlite:
      path: {{DB}}
    balances: genai_usage_service
service:
  extensions: [genai_usage_service]
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{TELEMETRY}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// usageServicePlans: 10,000 included credits (soft: overage at the rate-card
// revenue) and a hard limit of 70 calls a month.
const usageServicePlans = `
default_plan: pro
plans:
  pro:
    monthly_fee: "99"
    credits_per_usd: "100"
    allowances:
      - {name: credits, meter: credits, amount: "10000", limit: soft, overage: rate_card}
      - {name: calls, meter: calls, amount: "70", limit: hard}
`

// creditCalls builds one OTLP request of n chat calls of tenant, from index
// first: 100,000 input and 25,000 output tokens each, 200 credits ($2).
func creditCalls(tenant string, first, n int, end time.Time) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "app")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := first; i < first+n; i++ {
		sp := spans.AppendEmpty()
		var tid pcommon.TraceID
		copy(tid[:], fmt.Sprintf("%-8s%08d", tenant[:min(8, len(tenant))], i))
		sp.SetTraceID(tid)
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
		sp.SetName("chat gpt-4o")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Second)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		_ = sp.Attributes().FromRaw(map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
			"gen_ai.usage.input_tokens": 100000, "gen_ai.usage.output_tokens": 25000, "tenant.id": tenant,
		})
	}
	var m ptrace.JSONMarshaler
	b, err := m.MarshalTraces(td)
	if err != nil {
		panic(err)
	}
	return b
}

type apiClient struct {
	t    *testing.T
	base string
}

func (a apiClient) do(key, method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	require.NoError(a.t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	require.NoError(a.t, err)
	defer res.Body.Close()
	var m map[string]any
	require.NoError(a.t, json.NewDecoder(res.Body).Decode(&m))
	return res.StatusCode, m
}

func allowance(m map[string]any, name string) map[string]any {
	for _, a := range m["allowances"].([]any) {
		if a.(map[string]any)["name"] == name {
			return a.(map[string]any)
		}
	}
	return nil
}

func balance(m map[string]any, name string) map[string]any {
	for _, b := range m["balances"].([]any) {
		if b.(map[string]any)["allowance"] == name {
			return b.(map[string]any)
		}
	}
	return nil
}

// telemetrySum sums the samples of the named counters on the collector's
// own metrics endpoint (signal="metrics" samples left out).
func telemetrySum(t *testing.T, url string, names ...string) float64 {
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		for _, n := range names {
			if (strings.HasPrefix(line, n+"{") || strings.HasPrefix(line, n+" ") || strings.HasPrefix(line, n+"_total")) && !strings.Contains(line, `signal="metrics"`) {
				f, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64)
				require.NoError(t, err, line)
				sum += f
			}
		}
	}
	return sum
}

// TestUsageServiceEndToEnd is the "done means": through the built
// collector, a plan with 10,000 included credits plus a grant; calls use up
// the allowance, then the grant, then go into overage; a restart half-way
// changes nothing; every call replayed changes nothing; check flips to no at
// the hard limit; a tenant key sees only its tenant.
func TestUsageServiceEndToEnd(t *testing.T) {
	bin := collectorBinary(t)
	cli := filepath.Join(filepath.Dir(bin), "genaimeter")
	api, tel := freePort(t), freePort(t)
	cfg := strings.NewReplacer("{{API}}", strconv.Itoa(api), "{{TELEMETRY}}", strconv.Itoa(tel)).Replace(usageServiceConfig)
	plans := filepath.Join(t.TempDir(), "plans.yaml")
	writeFile(t, plans, usageServicePlans)
	c := startCollector(t, strings.ReplaceAll(cfg, "{{PLANS}}", plans))
	client := apiClient{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", api)}
	telURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", tel)

	key := func(args ...string) string {
		out, err := exec.Command(cli, append([]string{"keys", "create", "--db", c.dbPath}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	admin, acme, globex := key("--admin"), key("--tenant", "acme"), key("--tenant", "globex")

	code, g := client.do(admin, "POST", "/v1/tenants/acme/grants", map[string]any{"amount": "2000", "note": "prepaid pack"})
	require.Equal(t, 201, code, "%v", g)

	now := time.Now().UTC()
	ask := func(key, path string) map[string]any {
		code, m := client.do(key, "GET", path, nil)
		require.Equal(t, 200, code, "%s: %v", path, m)
		return m
	}
	// 35 calls (7,000 credits), then a restart, then 35 more and 2 of globex.
	c.post(t, creditCalls("acme", 0, 35, now))
	waitRows(t, c, 35)
	e := ask(acme, "/v1/tenants/acme/entitlements")
	assert.Equal(t, "7000", balance(e, "credits")["used"], "freshness: stored means counted")
	assert.Equal(t, "5000", allowance(e, "credits")["remaining"], "3,000 included and the grant's 2,000")
	c.stop(t)
	c.restart(t)
	c.post(t, creditCalls("acme", 35, 34, now))
	c.post(t, creditCalls("globex", 0, 2, now))
	waitRows(t, c, 71)
	chk := ask(acme, "/v1/tenants/acme/check")
	assert.Equal(t, true, chk["allowed"], "69 of 70 calls")
	c.post(t, creditCalls("acme", 69, 1, now))
	waitRows(t, c, 72)

	want := func() {
		e := ask(acme, "/v1/tenants/acme/entitlements")
		b := balance(e, "credits")
		// 70 calls × 200 credits: 10,000 included, the grant's 2,000, 2,000 over,
		// billed at their rate-card revenue: 2,000 credits × $0.01.
		assert.Equal(t, []any{"14000", "10000", "2000", "2000", "20"},
			[]any{b["used"], b["included"], b["granted"], b["overage"], b["overage_usd"]})
		assert.Equal(t, float64(70), b["calls"])
		assert.Equal(t, "0", e["grants"].([]any)[0].(map[string]any)["remaining"])
		chk := ask(acme, "/v1/tenants/acme/check")
		assert.Equal(t, false, chk["allowed"])
		assert.Equal(t, "limit_reached", chk["reason"])
		assert.Contains(t, chk["detail"], `allowance "calls" (hard limit 70 calls) is used up until`)
		u := ask(acme, "/v1/tenants/acme/usage?group_by=model")
		rows := u["rows"].([]any)
		require.Len(t, rows, 1)
		assert.Equal(t, float64(70), rows[0].(map[string]any)["calls"])
		assert.Equal(t, "140", rows[0].(map[string]any)["revenue_usd"])
	}
	want()

	// Replay every call (after a restart, so the connector's own duplicate
	// memory is gone and the ledger must refuse them).
	c.stop(t)
	c.restart(t)
	c.post(t, creditCalls("acme", 0, 70, now))
	c.post(t, creditCalls("globex", 0, 2, now))
	require.Eventually(t, func() bool {
		return telemetrySum(t, telURL, "otelcol_exporter_genai_ledger_records_duplicate", "otelcol_connector_genai_usage_duplicates_suppressed") >= 72
	}, 30*time.Second, 50*time.Millisecond, "replays not seen; output:\n%s", c.out)
	assert.Equal(t, 72, countSQLite(c.dbPath))
	want()

	// Isolation through the built collector: acme's key never sees globex.
	for _, p := range []string{"/v1/tenants/globex/check", "/v1/tenants/globex/entitlements", "/v1/tenants/globex/usage",
		"/v1/tenants/acme/usage?tenant=globex", "/v1/tenants/globex/grants"} {
		code, m := client.do(acme, "GET", p, nil)
		assert.Equal(t, 403, code, "%s: %v", p, m)
	}
	gb := ask(globex, "/v1/tenants/globex/entitlements")
	assert.Equal(t, "400", balance(gb, "credits")["used"])

	// The balances kept batch by batch are what a rebuild from the records gives.
	before := ask(admin, "/v1/tenants/acme/entitlements")
	c.stop(t)
	out, err := exec.Command(cli, "balances", "rebuild", "--db", c.dbPath, "--plans", plans).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "rebuilt the balances from 72 records\n", string(out))
	c.restart(t)
	after := ask(admin, "/v1/tenants/acme/entitlements")
	assert.Equal(t, before["balances"], after["balances"])
	assert.Equal(t, before["grants"], after["grants"])
}
