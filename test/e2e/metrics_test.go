package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const metricsConfig = `
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {{GRPC}}
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      tenant: [tenant.id, tenant_id]
connectors:
  genai_usage:
    metrics:
      temporality: cumulative
      flush_interval: 100ms
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
  prometheus:
    endpoint: 127.0.0.1:{{PROM}}
    without_scope_info: true
service:
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
    metrics:
      receivers: [genai_usage]
      exporters: [prometheus]
`

// sample is one line of a Prometheus text exposition.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?`)

// scrape reads a /metrics page in the Prometheus text format; a line it cannot
// read fails the test rather than being skipped.
func scrape(t *testing.T, url string) []sample {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out []sample
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		require.NotNil(t, m, "unreadable exposition line %q", line)
		s := sample{name: m[1], labels: map[string]string{}}
		rest := m[2]
		for _, p := range labelPair.FindAllStringSubmatchIndex(rest, -1) {
			v, err := strconv.Unquote(`"` + rest[p[4]:p[5]] + `"`)
			require.NoError(t, err, "label in %q", line)
			s.labels[rest[p[2]:p[3]]] = v
		}
		s.value, err = strconv.ParseFloat(m[3], 64)
		require.NoError(t, err, "value in %q", line)
		out = append(out, s)
	}
	return out
}

// only returns the samples of one metric name.
func only(samples []sample, name string) []sample {
	var out []sample
	for _, s := range samples {
		if s.name == name {
			out = append(out, s)
		}
	}
	return out
}

// byTenantModel indexes samples by tenant_id|model|pricing_status.
func byTenantModel(t *testing.T, samples []sample) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range samples {
		k := s.labels["tenant_id"] + "|" + s.labels["model"] + "|" + s.labels["pricing_status"]
		_, dup := out[k]
		require.False(t, dup, "two series for %s: %v", k, s.labels)
		out[k] = s.value
	}
	return out
}

func atoi(t *testing.T, s string) float64 {
	n, err := strconv.ParseInt(s, 10, 64)
	require.NoError(t, err)
	return float64(n)
}

// TestRealClientsUsageMetrics sends the five real clients' spans twice and
// scrapes the prometheus exporter: one call per LLM call (not two), the token
// buckets, and per tenant and model the cost the ledger holds, as a double.
func TestRealClientsUsageMetrics(t *testing.T) {
	prom, tel := freePort(t), freePort(t)
	c := startCollector(t, strings.NewReplacer("{{PROM}}", strconv.Itoa(prom), "{{TELEMETRY}}", strconv.Itoa(tel)).Replace(metricsConfig))
	promURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", prom)
	telURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", tel)
	root := repoRoot(t)
	for range 2 {
		for _, name := range []string{"otel-openai", "traceloop-openai", "traceloop-anthropic", "openinference-openai", "vercel-ai"} {
			c.sendFile(t, filepath.Join(root, "testdata", "realclients", name+".otlp.jsonl"))
		}
	}
	n := float64(len(realClientRecords))
	// A duplicate is suppressed only after its original was counted, so once
	// both flavours suppressed all 11, every call is in the aggregation.
	telemetry := func(name, signal string) float64 {
		for _, s := range only(scrape(t, telURL), name) {
			if s.labels["signal"] == signal || signal == "" {
				return s.value
			}
		}
		return -1
	}
	require.Eventually(t, func() bool {
		return telemetry("otelcol_connector_genai_usage_duplicates_suppressed", "metrics") == n &&
			telemetry("otelcol_connector_genai_usage_duplicates_suppressed", "logs") == n
	}, 30*time.Second, 50*time.Millisecond, "duplicates not suppressed; collector output:\n%s", c.out)
	// The next flush shows all of them.
	var samples []sample
	require.Eventually(t, func() bool {
		samples = scrape(t, promURL)
		var calls float64
		for _, s := range only(samples, "genaimeter_usage_calls_total") {
			calls += s.value
		}
		return calls == n
	}, 30*time.Second, 50*time.Millisecond)
	assert.Equal(t, n, telemetry("otelcol_connector_genai_usage_metric_calls", ""))
	assert.Equal(t, n, telemetry("otelcol_connector_genai_usage_records", ""))
	assert.Equal(t, n, telemetry("otelcol_connector_genai_usage_metric_series", ""))
	assert.Empty(t, only(scrape(t, telURL), "otelcol_connector_genai_usage_metric_overflow"))

	// The ledger's exact decimal per call, to compare with the metric.
	waitRows(t, c, len(realClientRecords))
	ledger := map[string]string{}
	rows, err := openDB(t, c.dbPath).QueryContext(context.Background(), "SELECT span_id, cost_usd FROM usage_records WHERE cost_usd IS NOT NULL")
	require.NoError(t, err)
	for rows.Next() {
		var span, cost string
		require.NoError(t, rows.Scan(&span, &cost))
		ledger[span] = cost
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())

	want := map[string]map[string]float64{}
	for _, name := range []string{"calls", "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens", "cost_USD"} {
		want["genaimeter_usage_"+name+"_total"] = map[string]float64{}
	}
	for _, r := range realClientRecords {
		model := r.catalogModel
		if model == "NULL" {
			model = r.respModel
		}
		k := r.tenant + "|" + model + "|" + r.status
		want["genaimeter_usage_calls_total"][k] = 1
		in, cr, cw := atoi(t, r.in), atoi(t, r.cacheRead), atoi(t, r.cacheWrite)
		want["genaimeter_usage_input_tokens_total"][k] = in - cr - cw
		want["genaimeter_usage_cache_read_tokens_total"][k] = cr
		want["genaimeter_usage_cache_write_tokens_total"][k] = cw
		want["genaimeter_usage_output_tokens_total"][k] = atoi(t, r.out)
		want["genaimeter_usage_reasoning_tokens_total"][k] = atoi(t, r.reasoning)
		if r.cost != "NULL" {
			require.Equal(t, r.cost, ledger[r.span], "ledger cost of %s", r.span)
			f, err := strconv.ParseFloat(ledger[r.span], 64)
			require.NoError(t, err)
			want["genaimeter_usage_cost_USD_total"][k] = f
		}
	}
	for name, w := range want {
		assert.Equal(t, w, byTenantModel(t, only(samples, name)), name)
	}
	assert.Empty(t, only(samples, "genaimeter_usage_revenue_USD_total"), "no fixture has a rate card")

	// The full label set of one series: the built-in dimensions, nothing else.
	for _, s := range only(samples, "genaimeter_usage_calls_total") {
		if s.labels["tenant_id"] == "tenant-a" && s.labels["model"] == "gpt-4o" {
			assert.Equal(t, map[string]string{
				"tenant_id": "tenant-a", "provider": "openai", "model": "gpt-4o", "operation": "chat",
				"feature": "ai_support_reply", "billable": "true", "pricing_status": "priced",
			}, s.labels)
		}
	}

	// Every metric the dashboard queries is one this scrape shows, but revenue,
	// which needs a rate card no fixture has (the connector's unit test checks
	// it against the list of emitted metrics).
	names := map[string]bool{"genaimeter_usage_revenue_USD_total": true}
	for _, s := range samples {
		names[s.name] = true
	}
	for _, s := range scrape(t, telURL) {
		names[s.name] = true
	}
	for _, m := range dashboardMetricNames(t, filepath.Join(root, "config", "grafana", "genaimeter.json")) {
		assert.True(t, names[m], "the dashboard queries %s, which the collector does not expose", m)
	}
}

// dashboardMetricNames returns the metric names the dashboard's queries use:
// genaimeter_* and otelcol_* identifiers that are not followed by "(".
func dashboardMetricNames(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	seen := map[string]bool{}
	ident := regexp.MustCompile(`\b(genaimeter|otelcol)_[a-zA-Z0-9_]*\b`)
	var exprs int
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs++
			found := ident.FindAllString(tg.Expr, -1)
			require.NotEmpty(t, found, "query %q names no metric", tg.Expr)
			for _, f := range found {
				seen[f] = true
			}
		}
	}
	require.Greater(t, exprs, 5)
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
