package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// userCollector is a user's own ocb manifest with genaimeter's components
// beside two contrib components otelcol-genaimeter does not ship (README "Add
// genaimeter to your own collector").
var userCollector = ocbBuild{
	ocb:         "v0.165.0",
	manifest:    "test/usermanifest/builder-config.yaml",
	name:        "otelcol-usercollector",
	withSources: true,
}

// userConfig runs the user's contrib components around genaimeter's: the
// resource processor, before genai_cost, gives every span of the service its
// tenant and renames the environment; the health_check extension answers on
// its own port.
const userConfig = `
extensions:
  health_check:
    endpoint: {{HEALTH}}
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  resource:
    attributes:
      - key: tenant.id
        value: initech
        action: insert
      - key: deployment.environment.name
        value: staging
        action: upsert
  genai_cost:
    attribution:
      tenant: [tenant.id]
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
service:
  extensions: [health_check]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [resource, genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// TestUserManifestWithGenaimeter builds test/usermanifest/builder-config.yaml
// with ocb and runs a pipeline through it over OTLP/HTTP on loopback: the
// ledger rows must carry what the user's resource processor put on the
// resource (tenant and environment) and genaimeter's exact costs, and the
// user's health_check extension must answer.
func TestUserManifestWithGenaimeter(t *testing.T) {
	bin := userCollector.binary(t)

	// Every component of both origins is in the build.
	out, err := exec.Command(bin, "components").CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range []string{"resource", "health_check", "genai_cost", "genai_usage", "genai_ledger", "file_storage"} {
		assert.Contains(t, string(out), "- name: "+name+"\n", "components of the user's collector")
	}

	health := freePort(t)
	c := startCollectorBinary(t, bin, strings.ReplaceAll(userConfig, "{{HEALTH}}", "127.0.0.1:"+strconv.Itoa(health)))
	var status int
	var body string
	require.Eventually(t, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", health))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		status, body = resp.StatusCode, string(b)
		return status == http.StatusOK
	}, 10*time.Second, 50*time.Millisecond, "health_check: %d %s", status, body)
	assert.Contains(t, body, `"status":"Server available"`)

	trace := pcommon.TraceID{0x05, 0xe4}
	c.post(t, otlpRequest(
		otlpSpan{"support-bot", trace, spanRoot, pcommon.SpanID{}, "POST /answer", map[string]any{"enduser.id": "u-42"}, 3 * time.Second},
		chatCall("support-bot", trace, spanCall1, spanRoot, "gpt-4o", 4100, 730),
		chatCall("support-bot", trace, spanCall2, spanRoot, "gpt-4o-mini", 260, 45),
	))
	waitRows(t, c, 2)
	c.stop(t)

	got := readRowsByEvent(t, openDB(t, c.dbPath))
	require.Len(t, got, 2, "records: %v", got)
	// Costs as in interleave_test.go: the reference calculator gives 0.01755
	// for gpt-4o with 4100 in / 730 out and 0.000066 for gpt-4o-mini with
	// 260 in / 45 out.
	for _, w := range []struct {
		span                 pcommon.SpanID
		model, in, out, cost string
	}{
		{spanCall1, "gpt-4o", "4100", "730", "0.01755"},
		{spanCall2, "gpt-4o-mini", "260", "45", "0.000066"},
	} {
		key := trace.String() + w.span.String()
		assert.Equal(t, row{
			"event_id": key, "time": interleaveEnd.Format("2006-01-02T15:04:05.000000000Z07:00"),
			"tenant_id": "initech", "user_id": "u-42", "feature": "NULL", "service_name": "support-bot",
			"environment": "staging", "provider": "openai", "operation": "chat",
			"request_model": w.model, "response_model": "NULL", "catalog_model": w.model,
			"input_tokens": w.in, "output_tokens": w.out, "cache_read_tokens": "0",
			"cache_write_tokens": "0", "reasoning_tokens": "0", "cost_usd": w.cost,
			"pricing_status": "priced", "billable": "1", "trace_id": trace.String(), "span_id": w.span.String(),
		}, got[key], key)
	}
}
