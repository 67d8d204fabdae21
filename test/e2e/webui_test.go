package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/money"
)

// The XSS payloads sent as span values: if one ran, it would set the
// document's title (CSP forbids scripts anyway; escaping must keep them from
// becoming elements at all).
const (
	evilTenant  = `<img src=x id=xss-tenant onerror="document.title='pwned'">`
	evilFeature = `"><script id=xss-feature>document.title='pwned'</script>`
	evilModel   = `<svg/onload=document.title='pwned' id=xss-model>`
)

// chromiumPath finds Debian's chromium; without it the test fails in CI
// (scripts/test-services.sh installs it) and skips elsewhere.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is missing: scripts/test-services.sh installs it (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// newBrowser starts a headless Chromium for the test.
func newBrowser(t *testing.T) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("hide-scrollbars", true), chromedp.WindowSize(1280, 900))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// The first action starts the browser: its context must not have a
	// deadline (the deadline would stop the browser); the test's does.
	require.NoError(t, chromedp.Do(ctx))
	ctx, cancel3 := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancel3)
	return ctx
}

// evilCalls is one call whose tenant, feature and model are payloads.
func evilCalls(end time.Time) []byte {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i, tenant := range []string{evilTenant, "acme"} {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{0xe, byte(i), 1})
		sp.SetSpanID(pcommon.SpanID{0xe, byte(i)})
		sp.SetName("chat evil")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(-time.Second)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
		_ = sp.Attributes().FromRaw(map[string]any{
			"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": evilModel,
			"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100, "tenant.id": tenant, "feature": evilFeature,
		})
	}
	var m ptrace.JSONMarshaler
	b, _ := m.MarshalTraces(td)
	return b
}

func decEqual(t *testing.T, want, shown, what string) {
	t.Helper()
	w, err := money.Parse(want)
	require.NoError(t, err, what)
	s := strings.NewReplacer("$", "", ",", "").Replace(strings.TrimSpace(shown))
	g, err := money.Parse(s)
	require.NoError(t, err, "%s: shown %q", what, shown)
	assert.Equal(t, 0, w.Cmp(&g), "%s: the API says %s, the page shows %q", what, want, shown)
}

// TestWebPagesInChromium loads the admin console and the customer page of a
// ledger filled through the built collector in a real headless Chromium:
// the numbers shown are the API's, the customer page shows no cost, no
// margin and no other tenant, the span values that are HTML/JS payloads are
// inert text, and the customer page has no horizontal scroll at 375 px.
// With GENAIMETER_SCREENSHOTS=DIR (make screenshots) it writes the README's
// images there.
func TestWebPagesInChromium(t *testing.T) {
	bin := collectorBinary(t)
	cli := filepath.Join(filepath.Dir(bin), "genaimeter")
	ctx := newBrowser(t)
	api := freePort(t)
	cfg := strings.NewReplacer("{{API}}", strconv.Itoa(api), "{{TELEMETRY}}", strconv.Itoa(freePort(t)),
		"    rate_limit: {per_second: 10000, burst: 1000}\n",
		"    rate_limit: {per_second: 10000, burst: 1000}\n    ui: {title: Acme AI usage, trace_url: \"https://traces.example/trace/{trace_id}\"}\n",
	).Replace(usageServiceConfig)
	plans := filepath.Join(t.TempDir(), "plans.yaml")
	writeFile(t, plans, usageServicePlans)
	c := startCollector(t, strings.ReplaceAll(cfg, "{{PLANS}}", plans))
	base := fmt.Sprintf("http://127.0.0.1:%d", api)
	client := apiClient{t: t, base: base}
	key := func(args ...string) string {
		out, err := exec.Command(cli, append([]string{"keys", "create", "--db", c.dbPath}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	admin := key("--admin")
	code, g := client.do(admin, "POST", "/v1/tenants/acme/grants", map[string]any{"amount": "2000", "note": "prepaid pack"})
	require.Equal(t, 201, code, "%v", g)

	now := time.Now().UTC()
	c.post(t, creditCalls("acme", 0, 30, now.Add(-time.Minute)))
	c.post(t, creditCalls("globex", 0, 7, now.Add(-time.Minute)))
	c.post(t, evilCalls(now.Add(-time.Minute)))
	// Last month, day by day, for the charts of the README's pictures:
	// acme steady, globex growing, initech's cost beyond what its plan brings.
	prev := time.Date(now.Year(), now.Month(), 1, 12, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
	rows := 39
	for d := 0; d < 24; d++ {
		day := prev.AddDate(0, 0, d)
		for tenant, n := range map[string]int{"acme": 2 + d%3, "globex": 1 + d/4, "initech": 3 + d/2} {
			c.post(t, creditCalls(tenant, 1000+d*100, n, day))
			rows += n
		}
	}
	waitRows(t, c, rows)

	ask := func(path string) map[string]any {
		code, m := client.do(admin, "GET", path, nil)
		require.Equal(t, 200, code, "%s: %v", path, m)
		return m
	}
	margin := ask("/v1/reports/margin")
	inv := ask("/v1/tenants/acme/invoice")
	ent := ask("/v1/tenants/acme/entitlements")
	link := ask("/v1/tenants/acme/customer-link")["path"].(string)
	lastMonth := prev.Format("2006-01")

	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return s
	}
	inert := func(page string) {
		title, err := chromedp.Run(ctx, chromedp.Title())
		require.NoError(t, err)
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#xss-tenant, #xss-feature, #xss-model, img[src=x], script").length`))
		require.NoError(t, err)
		assert.NotEqual(t, "pwned", title, page)
		assert.Equal(t, 0, n, "%s: a payload became an element", page)
	}

	// Admin console: sign in with the admin key.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name=key]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=key]`), admin),
		chromedp.Submit(chromedp.CSS(`input[name=key]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-kpi=cost]`))))
	decEqual(t, margin["cost_usd"].(string), text(`[data-kpi=cost] .v`), "total AI cost")
	decEqual(t, margin["revenue_usd"].(string), text(`[data-kpi=revenue] .v`), "total revenue")
	decEqual(t, margin["margin_usd"].(string), text(`[data-kpi=margin] .v`), "total margin")
	assert.Equal(t, fmt.Sprint(margin["unpriced_calls"]), text(`[data-kpi=unpriced] .v`))
	for _, tm := range margin["tenants"].([]any) {
		tm := tm.(map[string]any)
		cells, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf(
			`Array.from(document.querySelectorAll("table[data-table=tenants] tbody tr")).map(r => Array.from(r.cells).map(c => c.textContent)).find(r => r[0] === %q) || []`,
			tm["tenant"])))
		require.NoError(t, err)
		require.Len(t, cells, 8, "tenant %q not listed", tm["tenant"])
		decEqual(t, tm["cost_usd"].(string), cells[3], fmt.Sprint(tm["tenant"], " cost"))
		decEqual(t, tm["revenue_usd"].(string), cells[4], fmt.Sprint(tm["tenant"], " revenue"))
	}
	svgs, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart polyline").length`))
	require.NoError(t, err)
	assert.Equal(t, 3, svgs, "cost, revenue and margin lines")
	assert.Contains(t, text(`table[data-table=tenants]`), evilTenant, "the payload shows as text")
	assert.Contains(t, text(`table[data-table=unpriced]`), evilModel)
	inert("admin overview")
	shoot(t, ctx, base+"/ui/admin?period="+lastMonth, "admin-console.png")

	// Its tenant page.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/ui/admin/tenants/acme"), chromedp.WaitVisible(chromedp.CSS(`[data-kpi=cost]`))))
	acme := tenantOf(margin, "acme")
	decEqual(t, acme["cost_usd"].(string), text(`[data-kpi=cost] .v`), "acme cost")
	decEqual(t, acme["margin_usd"].(string), text(`[data-kpi=margin] .v`), "acme margin")
	assert.Contains(t, text(`table[data-table=by_feature]`), evilFeature)
	assert.Equal(t, "Acme AI usage · acme", text(`h1`), "the configured title")
	// The latest call links to its trace by the configured template: of the
	// calls at the same instant the last in ledger order, acme's 30th
	// (creditCalls' trace id "acme    00000029").
	href, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("table[data-table=calls] tbody tr a").href`))
	require.NoError(t, err)
	assert.Equal(t, "https://traces.example/trace/"+hex.EncodeToString([]byte("acme    00000029")), href)
	inert("tenant page")
	shoot(t, ctx, base+"/ui/admin/tenants/initech?period="+lastMonth, "admin-tenant.png")

	// The customer page, as the product embeds it: a signed link, a fresh
	// browser (no session), a phone's width.
	cctx, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	ctx = cctx
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(375, 812, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base+link), chromedp.WaitVisible(chromedp.CSS(`[data-kpi=invoice]`))))
	decEqual(t, inv["total_usd"].(string), text(`[data-kpi=invoice] .v`), "invoice total")
	credits := balance(ent, "credits")
	plain := func(s string) string { return strings.ReplaceAll(s, ",", "") }
	assert.Contains(t, plain(text(`table[data-table=allowances]`)), "\t"+credits["used"].(string)+" credits\t", "credits used")
	assert.Contains(t, plain(text(`table[data-table=allowances]`)), "\t"+allowance(ent, "credits")["remaining"].(string)+" credits\t", "credits remaining")
	body := plain(text(`body`))
	// acme's own payloads (feature, model) show as text; the other tenant's
	// (its name) never.
	for _, s := range []string{"cost", "Cost", "margin", "Margin", "globex", "$" + acme["cost_usd"].(string), "<img", "xss-tenant"} {
		assert.NotContains(t, body, s, "the customer page shows %q", s)
	}
	assert.Contains(t, text(`table[data-table=by_feature]`), evilFeature, "acme's own payload feature, as text")
	inert("customer page")
	scrollW, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`))
	require.NoError(t, err)
	innerW, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.innerWidth`))
	require.NoError(t, err)
	assert.Equal(t, 375, innerW)
	assert.LessOrEqual(t, scrollW, innerW, "horizontal scroll at 375 px")
	shoot(t, ctx, base+link+"&period="+lastMonth, "customer-phone.png")

	// A forged tenant in the link: 403, nothing of globex.
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+strings.Replace(link, "tenant=acme", "tenant=globex", 1))))
	status, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h2`)))
	require.NoError(t, err)
	assert.Equal(t, "Forbidden", status)
}

func tenantOf(margin map[string]any, tenant string) map[string]any {
	for _, tm := range margin["tenants"].([]any) {
		if tm.(map[string]any)["tenant"] == tenant {
			return tm.(map[string]any)
		}
	}
	return nil
}

// shoot writes a full-page screenshot of url (last month's pages: a month
// of days to chart) to $GENAIMETER_SCREENSHOTS/name (make screenshots);
// nothing otherwise, so a test run leaves the checkout clean.
func shoot(t *testing.T, ctx context.Context, url, name string) {
	dir := os.Getenv("GENAIMETER_SCREENSHOTS")
	if dir == "" {
		return
	}
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`.kpis`))))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
}
