package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/genaimeter/genaimeter/pkg/webhooksig"
)

// alertsPlans: acme's 10,000 included credits (50/80/100 % alerts; its own
// spike floor out of reach), globex pay-as-you-go with the default spike rule.
const alertsPlans = `
default_plan: pro
plans:
  pro:
    credits_per_usd: "100"
    alerts: {thresholds: ["50", "80", "100"], spike: {floor: "1000000"}}
    allowances:
      - {name: credits, meter: credits, amount: "10000", limit: soft, overage: rate_card}
  payg: {}
tenants:
  globex: {plan: payg}
`

// alertHook is the webhook receiver: it verifies every signature, refuses
// the very first post with 503 and Retry-After, and counts each alert id.
type alertHook struct {
	mu      sync.Mutex
	posts   int
	badSigs int
	got     map[string]int
	bodies  map[string]map[string]any
}

func (h *alertHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.posts++
	if err := webhooksig.Verify("e2e-secret", r.Header.Get(webhooksig.Header), body, time.Now(), webhooksig.Tolerance); err != nil {
		h.badSigs++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if h.posts == 1 {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "warming up", http.StatusServiceUnavailable)
		return
	}
	var p struct {
		Alert map[string]any `json:"alert"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id := p.Alert["id"].(string)
	h.got[id]++
	h.bodies[id] = p.Alert
}

func (h *alertHook) ids() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for k, v := range h.got {
		out[k] = v
	}
	return out
}

// TestAlertsEndToEnd is issue 15's "done means": through the built
// collector, acme's calls cross 50, 80 and 100 % of its allowance (one call
// at a time around each threshold: a flapping tenant), globex bursts after a
// quiet history; the collector restarts half-way and everything is replayed
// after another restart. Each threshold alert and the spike alert reach the
// webhook exactly once with valid signatures, and as log records (genai_alerts
// receiver → otlphttp) exactly once; the API lists them, the post counter
// counts them.
func TestAlertsEndToEnd(t *testing.T) {
	bin := collectorBinary(t)
	cli := filepath.Join(filepath.Dir(bin), "genaimeter")
	hook := &alertHook{got: map[string]int{}, bodies: map[string]map[string]any{}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	api, tel := freePort(t), freePort(t)
	dir := t.TempDir()
	plans := filepath.Join(dir, "plans.yaml")
	writeFile(t, plans, alertsPlans)
	cfg := strings.NewReplacer("{{API}}", strconv.Itoa(api), "{{TELEMETRY}}", strconv.Itoa(tel), "{{PLANS}}", plans).Replace(usageServiceConfig)
	cfg = strings.Replace(cfg, "    rate_limit: {per_second: 10000, burst: 1000}\n", "    rate_limit: {per_second: 10000, burst: 1000}\n"+
		"    alerts:\n      interval: 100ms\n      dead_letter: "+filepath.Join(dir, "alerts.dead.jsonl")+"\n"+
		"      webhook: {endpoint: "+srv.URL+", secret: e2e-secret, initial_backoff: 200ms}\n", 1)
	// The alerts as log records: genai_alerts → otlphttp (JSON) → logSrv.
	logs := &alertLogs{got: map[string]int{}}
	logSrv := httptest.NewServer(logs)
	defer logSrv.Close()
	cfg = strings.Replace(cfg, "receivers:\n  otlp:\n", "receivers:\n  genai_alerts:\n    service: genai_usage_service\n    interval: 100ms\n  otlp:\n", 1)
	cfg = strings.Replace(cfg, "exporters:\n  genai_ledger:\n", "exporters:\n  otlphttp/alerts:\n    logs_endpoint: "+logSrv.URL+"/v1/logs\n    encoding: json\n    compression: none\n  genai_ledger:\n", 1)
	cfg = strings.Replace(cfg, "  pipelines:\n", "  pipelines:\n    logs/alerts:\n      receivers: [genai_alerts]\n      exporters: [otlphttp/alerts]\n", 1)
	c := startCollector(t, cfg)
	client := apiClient{t: t, base: fmt.Sprintf("http://127.0.0.1:%d", api)}
	telURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", tel)

	now := time.Now().UTC()
	// acme: 200 credits a call. 24 calls (4,800), then one at a time to 26
	// (50 % at the 25th), 38 more at once (12,800: 80 and 100 %).
	var sent [][]byte
	post := func(body []byte) {
		c.post(t, body)
		sent = append(sent, body)
	}
	post(creditCalls("acme", 0, 24, now))
	for i := 24; i < 27; i++ {
		post(creditCalls("acme", i, 1, now))
	}
	waitRows(t, c, 27)
	c.stop(t)
	c.restart(t)
	for i := 27; i < 41; i++ { // 80 % at the 40th call, one call at a time
		post(creditCalls("acme", i, 1, now))
	}
	post(creditCalls("acme", 41, 23, now)) // 12,800 credits: 100 %
	// globex: a quiet history (one call an hour for five hours), then 40
	// calls now.
	for h := 5; h >= 1; h-- {
		post(creditCalls("globex", 1000+h, 1, now.Add(-time.Duration(h)*time.Hour)))
	}
	post(creditCalls("globex", 0, 40, now))
	waitRows(t, c, 64+45)

	period := strconv.FormatInt(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Unix(), 10)
	hour := strconv.FormatInt(now.Truncate(time.Hour).Unix(), 10)
	want := map[string]int{
		"threshold/acme/" + period + "/allowance:credits/50":  1,
		"threshold/acme/" + period + "/allowance:credits/80":  1,
		"threshold/acme/" + period + "/allowance:credits/100": 1,
		"spike/globex/tenant/" + hour:                         1,
	}
	require.Eventually(t, func() bool { return len(hook.ids()) == len(want) }, 30*time.Second, 50*time.Millisecond,
		"alerts: %v; output:\n%s", hook.ids(), c.out)

	// Counted by the second collector: at least the three alerts that fired
	// in it (80, 100 %, the spike), delivered.
	require.Eventually(t, func() bool {
		n, _ := strconv.Atoi(alertPosts(t, telURL)["delivered"])
		return n >= 3
	}, 10*time.Second, 50*time.Millisecond, "posts: %v", alertPosts(t, telURL))

	// Replay everything after a restart: nothing new reaches the webhook.
	c.stop(t)
	c.restart(t)
	for _, b := range sent {
		c.post(t, b)
	}
	require.Eventually(t, func() bool {
		return telemetrySum(t, telURL, "otelcol_exporter_genai_ledger_records_duplicate", "otelcol_connector_genai_usage_duplicates_suppressed") >= 109
	}, 30*time.Second, 50*time.Millisecond, "replays not seen; output:\n%s", c.out)
	time.Sleep(time.Second) // several delivery passes
	assert.Equal(t, want, hook.ids())
	hook.mu.Lock()
	assert.Equal(t, 0, hook.badSigs)
	assert.Equal(t, len(want)+1, hook.posts, "one refused (503) and retried, the rest once")
	a50 := hook.bodies["threshold/acme/"+period+"/allowance:credits/50"]
	spike := hook.bodies["spike/globex/tenant/"+hour]
	hook.mu.Unlock()
	assert.Equal(t, map[string]any{"threshold_percent": "50", "plan": "pro", "allowance": "credits", "meter": "credits", "amount": "10000",
		"used": "5000", "event_id": a50["detail"].(map[string]any)["event_id"]}, a50["detail"])
	sd := spike["detail"].(map[string]any)
	assert.Equal(t, []any{"payg", "20", "2.5", float64(5), "3", "10"},
		[]any{sd["plan"], sd["spend_usd"], sd["baseline_usd"], sd["baseline_windows"], sd["k"], sd["floor_usd"]})

	// The log records match the webhook's alerts, once each.
	assert.Equal(t, want, logs.ids(), "output:\n%s", c.out)
	logs.mu.Lock()
	assert.Equal(t, "tenant acme reached 80% of allowance:credits (8000 of 10000 credits)", logs.bodies["threshold/acme/"+period+"/allowance:credits/80"])
	logs.mu.Unlock()

	// The API lists them: the admin all four, acme's key its three.
	key := func(args ...string) string {
		out, err := exec.Command(cli, append([]string{"keys", "create", "--db", c.dbPath}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	admin, acme := key("--admin"), key("--tenant", "acme")
	listed := func(k, path string) []string {
		code, m := client.do(k, "GET", path, nil)
		require.Equal(t, 200, code, "%v", m)
		var ids []string
		for _, a := range m["alerts"].([]any) {
			a := a.(map[string]any)
			ids = append(ids, a["id"].(string)+" "+a["status"].(string)+" delivered="+strconv.FormatBool(a["delivered_at"] != nil))
		}
		sort.Strings(ids)
		return ids
	}
	assert.Equal(t, []string{
		"spike/globex/tenant/" + hour + " open delivered=true",
		"threshold/acme/" + period + "/allowance:credits/100 open delivered=true",
		"threshold/acme/" + period + "/allowance:credits/50 open delivered=true",
		"threshold/acme/" + period + "/allowance:credits/80 open delivered=true",
	}, listed(admin, "/v1/alerts"))
	assert.Len(t, listed(acme, "/v1/tenants/acme/alerts"), 3)
	code, _ := client.do(acme, "GET", "/v1/tenants/globex/alerts", nil)
	assert.Equal(t, 403, code)

	// The replaying collector posted nothing; nothing was dead-lettered.
	assert.Empty(t, alertPosts(t, telURL))
	_, err := os.Stat(filepath.Join(dir, "alerts.dead.jsonl"))
	require.NoError(t, err)
	dead, _ := os.ReadFile(filepath.Join(dir, "alerts.dead.jsonl"))
	assert.Empty(t, dead)
}

// alertLogs receives OTLP/JSON logs and counts the alert ids.
type alertLogs struct {
	mu     sync.Mutex
	got    map[string]int
	bodies map[string]string
}

func (l *alertLogs) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var u plog.JSONUnmarshaler
	ld, err := u.UnmarshalLogs(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bodies == nil {
		l.bodies = map[string]string{}
	}
	for i := range ld.ResourceLogs().Len() {
		for j := range ld.ResourceLogs().At(i).ScopeLogs().Len() {
			lrs := ld.ResourceLogs().At(i).ScopeLogs().At(j).LogRecords()
			for k := range lrs.Len() {
				id, _ := lrs.At(k).Attributes().Get("genaimeter.alert.id")
				l.got[id.Str()]++
				l.bodies[id.Str()] = lrs.At(k).Body().Str()
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

func (l *alertLogs) ids() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for k, v := range l.got {
		out[k] = v
	}
	return out
}

// alertPosts reads genai_usage_service_alert_posts by fate.
func alertPosts(t *testing.T, url string) map[string]string {
	res, err := http.Get(url)
	require.NoError(t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	out := map[string]string{}
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "otelcol_genai_usage_service_alert_posts") {
			continue
		}
		_, rest, _ := strings.Cut(line, `fate="`)
		fate, _, _ := strings.Cut(rest, `"`)
		out[fate] = line[strings.LastIndex(line, " ")+1:]
	}
	return out
}
