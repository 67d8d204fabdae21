package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// nodeAppConfig is sqliteConfig with the collector's own metrics served on
// {{METRICS}}, to check the processor's held-call accounting.
const nodeAppConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
service:
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{METRICS}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// nodeAppDir is test/e2e/nodeapp with its npm packages installed (.ci/run runs
// `npm ci` there). Without them the test fails in CI and skips elsewhere.
func nodeAppDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(repoRoot(t), "test", "e2e", "nodeapp")
	_, errNode := exec.LookPath("node")
	_, errPkgs := os.Stat(filepath.Join(dir, "node_modules", "@opentelemetry", "instrumentation-openai"))
	if errNode == nil && errPkgs == nil {
		return dir
	}
	msg := fmt.Sprintf("the Node.js test app is not installed (node: %v, packages: %v): run `npm ci --prefix test/e2e/nodeapp`", errNode, errPkgs)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// appCall is one OpenAI API call the app makes; the loopback stand-in answers
// with these token counts.
type appCall struct {
	API        string `json:"api"`
	Model      string `json:"model"`
	Input      int    `json:"input"`
	Output     int    `json:"output"`
	CacheRead  int    `json:"cache_read,omitempty"`
	CacheWrite int    `json:"cache_write,omitempty"`
}

// appRequest is one request the app handles under an app span carrying its identity.
type appRequest struct {
	Tenant  string    `json:"tenant"`
	User    string    `json:"user"`
	Feature string    `json:"feature"`
	Calls   []appCall `json:"calls"`
}

// appSpan is the app span of one request, as the app prints it.
type appSpan struct {
	Tenant  string `json:"tenant"`
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
}

// runNodeApp runs app.cjs against the collector and returns its app spans by tenant.
func runNodeApp(t *testing.T, dir, otlpHTTP, mode string, plan []appRequest) map[string]appSpan {
	t.Helper()
	planJSON, err := json.Marshal(plan)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "app.cjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "OTLP_ENDPOINT="+otlpHTTP, "SPAN_EXPORT="+mode, "APP_PLAN="+string(planJSON))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "node app.cjs failed; stderr:\n%s", &stderr)
	spans := map[string]appSpan{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var s appSpan
		require.NoError(t, json.Unmarshal(sc.Bytes(), &s), "app output line %q", sc.Text())
		spans[s.Tenant] = s
	}
	require.Len(t, spans, len(plan), "app output:\n%s\nstderr:\n%s", &stdout, &stderr)
	return spans
}

// scrapeCounter reads one series of the collector's Prometheus endpoint; a
// counter never incremented is absent and reads 0. series is the metric name
// with its labels, as Prometheus prints them: name{key="value"}.
func scrapeCounter(t *testing.T, metricsURL, series string) float64 {
	t.Helper()
	resp, err := http.Get(metricsURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	name, labels, _ := strings.Cut(series, "{")
	if labels != "" {
		labels = "{" + labels
	}
	// Depending on the exporter's naming, a counter may carry a _total suffix.
	for _, want := range []string{name + labels, name + "_total" + labels} {
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, want+" "); ok {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				require.NoError(t, err, "line %q", line)
				return f
			}
		}
	}
	return 0
}

// nodeAppPlan: two requests of two tenants, every API the instrumentation
// covers (chat, streamed chat, embeddings, responses).
var nodeAppPlan = []appRequest{
	{Tenant: "acme", User: "u-1", Feature: "reply", Calls: []appCall{
		{API: "chat", Model: "gpt-4o", Input: 1200, Output: 300},
		{API: "chat_stream", Model: "gpt-4o-mini", Input: 800, Output: 50},
		{API: "embeddings", Model: "text-embedding-3-small", Input: 2000},
		{API: "responses", Model: "gpt-4.1-mini", Input: 500, Output: 100},
	}},
	{Tenant: "globex", User: "u-7", Feature: "summarize", Calls: []appCall{
		{API: "chat", Model: "gpt-4o-mini", Input: 15000, Output: 1200},
		{API: "embeddings", Model: "text-embedding-3-small", Input: 300},
	}},
}

// nodeAppRecord is the expected ledger row of one call, keyed by tenant,
// operation and request model (unique in nodeAppPlan).
type nodeAppRecord struct {
	tenant, user, feature                        string
	operation, reqModel, respModel, catalogModel string
	in, out                                      string
	cost                                         string
}

// The costs are those of the reference calculator, @pydantic/genai-prices
// 0.1.8 (in internal/pricing/testdata/reference: calcPrice(usage, model,
// {providerId: 'openai'}).total_price, rounded off its float noise), and of
// `genaimeter price --provider openai --model <response model> --usage
// input_tokens=N,output_tokens=M`, which agree:
//
//	gpt-4o-2024-08-06        1200 in, 300 out    0.006
//	gpt-4o-mini-2024-07-18   800 in, 50 out      0.00015
//	text-embedding-3-small   2000 in             0.00004
//	gpt-4.1-mini-2025-04-14  500 in, 100 out     0.00036
//	gpt-4o-mini-2024-07-18   15000 in, 1200 out  0.00297
//	text-embedding-3-small   300 in              0.000006
var nodeAppRecords = []nodeAppRecord{
	{"acme", "u-1", "reply", "chat", "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o", "1200", "300", "0.006"},
	{"acme", "u-1", "reply", "chat", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "800", "50", "0.00015"},
	// The embeddings API answers with the undated model name.
	{"acme", "u-1", "reply", "embeddings", "text-embedding-3-small", "text-embedding-3-small", "text-embedding-3-small", "2000", "0", "0.00004"},
	// The responses API: the instrumentation names its operation "chat".
	{"acme", "u-1", "reply", "chat", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4.1-mini", "500", "100", "0.00036"},
	{"globex", "u-7", "summarize", "chat", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o-mini", "15000", "1200", "0.00297"},
	{"globex", "u-7", "summarize", "embeddings", "text-embedding-3-small", "text-embedding-3-small", "text-embedding-3-small", "300", "0", "0.000006"},
}

var spanIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestNodeAppOpenAIInstrumentation runs a real Node.js app — the `openai`
// package instrumented by @opentelemetry/instrumentation-openai, against a
// loopback stand-in for the OpenAI API — exporting OTLP/HTTP to the built
// collector, and checks the exact ledger: one record per call, the tenant,
// user and feature of the app span that is the calls' parent, exact costs, and
// nothing for the app spans. It does so with the SDK's batching and with every
// call reaching the collector before its parent (held, then released when the
// parent arrives).
func TestNodeAppOpenAIInstrumentation(t *testing.T) {
	collectorBinary(t)
	dir := nodeAppDir(t)
	for _, mode := range []string{"batch", "children_first"} {
		t.Run(mode, func(t *testing.T) {
			metrics := freePort(t)
			c := startCollector(t, strings.ReplaceAll(nodeAppConfig, "{{METRICS}}", strconv.Itoa(metrics)))
			start := time.Now()
			apps := runNodeApp(t, dir, c.http, mode, nodeAppPlan)
			end := time.Now()
			waitRows(t, c, len(nodeAppRecords))

			metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)
			counter := func(series string) float64 { return scrapeCounter(t, metricsURL, series) }
			assert.Equal(t, float64(len(nodeAppRecords)), counter(`otelcol_processor_genai_cost_calls{pricing_status="priced"}`))
			assert.Zero(t, counter(`otelcol_processor_genai_cost_calls_unattributed`))
			assert.Zero(t, counter(`otelcol_processor_genai_cost_calls_released{release_reason="wait_expired"}`))
			held := counter(`otelcol_processor_genai_cost_calls_held`)
			if mode == "children_first" {
				// Every call arrived before its app span: all held, all let go by its arrival.
				assert.Equal(t, float64(len(nodeAppRecords)), held)
			}
			assert.Equal(t, held, counter(`otelcol_processor_genai_cost_calls_released{release_reason="ancestors_arrived"}`))
			c.stop(t)

			got := readRows(t, openDB(t, c.dbPath))
			require.Len(t, got, len(nodeAppRecords), "records: %v", got)
			byCall := map[string]row{}
			for _, r := range got {
				byCall[r["tenant_id"]+"|"+r["operation"]+"|"+r["request_model"]] = r
			}
			for _, w := range nodeAppRecords {
				key := w.tenant + "|" + w.operation + "|" + w.reqModel
				g, ok := byCall[key]
				if !assert.True(t, ok, "no record for %s; records: %v", key, got) {
					continue
				}
				app := apps[w.tenant]
				// Ids and time are the SDK's: check their shape and links, then compare the rest exactly.
				assert.Equal(t, app.TraceID, g["trace_id"], "%s: the call is in its request's trace", key)
				assert.Regexp(t, spanIDPattern, g["span_id"], key)
				assert.NotEqual(t, app.SpanID, g["span_id"], "%s: the app span is not metered", key)
				assert.Equal(t, g["trace_id"]+g["span_id"], g["event_id"], key)
				at, err := time.Parse("2006-01-02T15:04:05.000000000Z07:00", g["time"])
				if assert.NoError(t, err, key) {
					assert.WithinRange(t, at, start, end.Add(time.Second), "%s: time is the call's end", key)
				}
				want := row{
					"event_id": g["event_id"], "time": g["time"], "trace_id": g["trace_id"], "span_id": g["span_id"],
					"tenant_id": w.tenant, "user_id": w.user, "feature": w.feature, "service_name": "nodeapp",
					"environment": "e2e", "provider": "openai", "operation": w.operation,
					"request_model": w.reqModel, "response_model": w.respModel, "catalog_model": w.catalogModel,
					"input_tokens": w.in, "output_tokens": w.out, "cache_read_tokens": "0",
					"cache_write_tokens": "0", "reasoning_tokens": "0", "cost_usd": w.cost,
					"pricing_status": "priced", "billable": "1",
				}
				assert.Equal(t, want, g, key)
			}
		})
	}
}

// nodeAppAnthropicPlan: one request whose Anthropic calls run under
// @traceloop/instrumentation-anthropic 0.27.0 (OpenLLMetry JS), which writes
// Anthropic's raw input_tokens (without the cache) as gen_ai.usage.input_tokens.
var nodeAppAnthropicPlan = []appRequest{
	{Tenant: "initech", User: "u-3", Feature: "agent", Calls: []appCall{
		{API: "messages", Model: "claude-sonnet-4-5", Input: 5200, Output: 800, CacheRead: 4000, CacheWrite: 1100},
		{API: "messages_stream", Model: "claude-sonnet-4-5", Input: 3000, Output: 600, CacheRead: 2000, CacheWrite: 500},
		{API: "messages_stream_stopped", Model: "claude-haiku-4-5", Input: 2000, Output: 300, CacheRead: 1000},
	}},
}

// TestNodeAppAnthropicInstrumentation runs the Node.js app's Anthropic client
// (@anthropic-ai/sdk 0.60.0 under @traceloop/instrumentation-anthropic 0.27.0,
// against the app's loopback Anthropic stand-in) into the built collector and
// checks the exact records: the raw input is read as exclusive of the cache,
// a streamed call is complete, and a stream stopped by an AbortController is
// priced from its message_start usage, marked stopped and partial.
//
// Per million tokens, claude-sonnet-4-5: input $3, output $15, cache read
// $0.30, cache write $3.75; claude-haiku-4-5: $1, $5, $0.10, $1.25.
//
//	messages         5200 × 3 + 4000 × 0.30 + 1100 × 3.75 + 800 × 15 = 15600 + 1200 + 4125 + 12000 = 32925 µ$
//	messages_stream  3000 × 3 + 2000 × 0.30 +  500 × 3.75 + 600 × 15 =  9000 +  600 + 1875 +  9000 = 20475 µ$
//	stopped stream   2000 × 1 + 1000 × 0.10 + 1 × 5 (message_start's output) = 2000 + 100 + 5 = 2105 µ$ (a lower bound)
func TestNodeAppAnthropicInstrumentation(t *testing.T) {
	collectorBinary(t)
	dir := nodeAppDir(t)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@traceloop", "instrumentation-anthropic")); err != nil {
		msg := fmt.Sprintf("the Node.js test app's Anthropic packages are not installed: run `npm ci --prefix test/e2e/nodeapp` (%v)", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	metrics := freePort(t)
	c := startCollector(t, strings.ReplaceAll(nodeAppConfig, "{{METRICS}}", strconv.Itoa(metrics)))
	apps := runNodeApp(t, dir, c.http, "batch", nodeAppAnthropicPlan)
	waitRows(t, c, 3)
	c.stop(t)

	db := openDB(t, c.dbPath)
	got := readRows(t, db)
	require.Len(t, got, 3, "records: %v", got)
	type extra struct{ completion, convention, billableReason, detail string }
	extras := map[string]extra{}
	rows, err := db.QueryContext(context.Background(), `SELECT span_id, coalesce(completion, 'NULL'), coalesce(token_convention, 'NULL'),
		coalesce(billable_reason, 'NULL'), coalesce(pricing_detail, 'NULL') FROM usage_records`)
	require.NoError(t, err)
	for rows.Next() {
		var span string
		var e extra
		require.NoError(t, rows.Scan(&span, &e.completion, &e.convention, &e.billableReason, &e.detail))
		extras[span] = e
	}
	require.NoError(t, rows.Err())
	require.NoError(t, rows.Close())

	type want struct {
		respModel, catalogModel, in, out, cacheRead, cacheWrite, cost string
		extra
	}
	wants := map[string]want{ // by request model and output tokens
		"claude-sonnet-4-5|800": {"claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "10300", "800", "4000", "1100", "0.032925",
			extra{"complete", "exclusive", "default", "NULL"}},
		"claude-sonnet-4-5|600": {"claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "5500", "600", "2000", "500", "0.020475",
			extra{"complete", "exclusive", "default", "NULL"}},
		"claude-haiku-4-5|1": {"claude-haiku-4-5-20251001", "claude-haiku-4-5", "3000", "1", "1000", "0", "0.002105",
			extra{"stopped", "exclusive", "partial", "partial: the call was stopped before its end; priced from the usage reported until then (a lower bound); " +
				"streamed Anthropic call with output 0 or 1: only the message_start usage arrived, so the stream was stopped and its counts are a lower bound"}},
	}
	app := apps["initech"]
	for _, g := range got {
		key := g["request_model"] + "|" + g["output_tokens"]
		w, ok := wants[key]
		if !assert.True(t, ok, "unexpected record %v", g) {
			continue
		}
		assert.Equal(t, app.TraceID, g["trace_id"], key)
		assert.Equal(t, row{
			"event_id": g["event_id"], "time": g["time"], "trace_id": g["trace_id"], "span_id": g["span_id"],
			"tenant_id": "initech", "user_id": "u-3", "feature": "agent", "service_name": "nodeapp",
			"environment": "e2e", "provider": "anthropic", "operation": "chat",
			"request_model": g["request_model"], "response_model": w.respModel, "catalog_model": w.catalogModel,
			"input_tokens": w.in, "output_tokens": w.out, "cache_read_tokens": w.cacheRead,
			"cache_write_tokens": w.cacheWrite, "reasoning_tokens": "0", "cost_usd": w.cost,
			"pricing_status": "priced", "billable": "1",
		}, g, key)
		assert.Equal(t, w.extra, extras[g["span_id"]], key)
	}
}
