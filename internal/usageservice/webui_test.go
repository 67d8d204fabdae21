package usageservice

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/internal/webui"
)

// browser is an HTTP client with a cookie jar that does not follow
// redirects (so the tests see them).
type browser struct {
	t *testing.T
	f *fixture
	c *http.Client
}

func newBrowser(f *fixture) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: f.t, f: f, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) get(path string) (int, http.Header, string) {
	b.t.Helper()
	res, err := b.c.Get(b.f.srv.URL + path)
	require.NoError(b.t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

func (b *browser) post(path string, form url.Values) (int, http.Header, string) {
	b.t.Helper()
	res, err := b.c.PostForm(b.f.srv.URL+path, form)
	require.NoError(b.t, err)
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

func (b *browser) login(key string) {
	code, h, body := b.post("/ui/login", url.Values{"key": {key}})
	require.Equal(b.t, http.StatusSeeOther, code, body)
	c := h.Get("Set-Cookie")
	assert.Contains(b.t, c, "HttpOnly")
	assert.Contains(b.t, c, "SameSite=Strict")
	assert.NotContains(b.t, c, "Secure", "plain HTTP here: Secure only with TLS")
}

func csrfOf(t *testing.T, body string) string {
	_, rest, ok := strings.Cut(body, `name="csrf" value="`)
	require.True(t, ok, "no csrf field")
	tok, _, _ := strings.Cut(rest, `"`)
	return tok
}

// TestCustomerPageShowsOnlyItsTenantsRevenue: a tenant key's page and a
// signed link's page hold acme's numbers in its prices, no AI cost, no
// margin and nothing of globex; another tenant in the URL or an altered
// or expired link is 403.
func TestCustomerPageShowsOnlyItsTenantsRevenue(t *testing.T) {
	f := newFixture(t, Options{})
	f.seed()
	secrets := []string{"globex", "777777", "777,777", "0.987654", "0.123457", "4242.42", "4,242.42", f.bGrantID}
	costWords := []string{"cost", "Cost", "margin", "Margin", "0.0004", "0.003", "0.0034"}

	b := newBrowser(f)
	code, h, _ := b.get("/ui/customer")
	assert.Equal(t, http.StatusSeeOther, code)
	assert.Equal(t, "/ui/login", h.Get("Location"))
	b.login(f.keyA)
	code, h, page := b.get("/ui/customer")
	require.Equal(t, 200, code, page)
	csp := h.Get("Content-Security-Policy")
	assert.Contains(t, csp, "script-src 'none'")
	assert.Contains(t, csp, "default-src 'none'")
	assert.NotContains(t, page, "<script")
	// acme's usage charges: 0.03 + 0.02 in its prices; 2,000 input tokens.
	assert.Contains(t, page, "$0.05")
	assert.Contains(t, page, "chat")
	assert.Contains(t, page, "search")
	assert.Contains(t, page, "<svg")
	for _, s := range append(secrets, costWords...) {
		assert.NotContains(t, page, s, "customer page shows %q", s)
	}
	for _, p := range []string{"/ui/customer?tenant=globex", "/ui/admin", "/ui/admin/tenants/globex", "/ui/customer?tenant=globex&csv=by_day"} {
		code, _, body := b.get(p)
		assert.Equal(t, 403, code, p)
		for _, s := range secrets {
			assert.NotContains(t, body, s, "%s leaks %q", p, s)
		}
	}
	// CSV of its own table: its rows, no cost.
	code, h, csv := b.get("/ui/customer?csv=by_feature")
	require.Equal(t, 200, code)
	assert.Equal(t, "text/csv; charset=utf-8", h.Get("Content-Type"))
	assert.Equal(t, "Feature,Calls,Input tokens,Output tokens,Usage charges\nchat,1,\"1,200\",300,$0.03\nsearch,1,800,100,$0.02\n", csv)

	// The signed link: no cookie needed; the same page.
	res := f.call(f.admin, "GET", "/v1/tenants/{tenant}/customer-link", "/v1/tenants/acme/customer-link", nil)
	require.Equal(t, 200, res.status)
	link := res.json(t)["path"].(string)
	assert.Equal(t, now.Add(time.Hour).Format(time.RFC3339), res.json(t)["expires"])
	anon := newBrowser(f)
	code, h, page = anon.get(link)
	require.Equal(t, 200, code, page)
	assert.Equal(t, "frame-ancestors *", csp[strings.LastIndex(csp, "frame-")-0:])
	assert.Empty(t, h.Get("X-Frame-Options"), "the customer page may be embedded")
	assert.Contains(t, page, "$0.05")
	for _, s := range append(secrets, costWords...) {
		assert.NotContains(t, page, s, "linked page shows %q", s)
	}
	forged := strings.Replace(link, "tenant=acme", "tenant=globex", 1)
	code, _, body := anon.get(forged)
	assert.Equal(t, 403, code)
	assert.Contains(t, body, "this link is not valid")
	for _, s := range secrets[1:] {
		assert.NotContains(t, body, s)
	}
	code, _, _ = anon.get(link + "&tenant=globex")
	assert.Equal(t, 403, code, "a second tenant parameter is not signed")
	f.clock.Add(time.Hour)
	code, _, body = anon.get(link)
	assert.Equal(t, 403, code)
	assert.Contains(t, body, "this link has expired")
}

// TestAdminConsole: the overview and a tenant page show the ledger's
// numbers, the grant form needs its CSRF token, and the admin pages are
// never framed.
func TestAdminConsole(t *testing.T) {
	f := newFixture(t, Options{UI: uiOpts()})
	f.seed()
	b := newBrowser(f)
	b.login(f.admin)
	code, h, page := b.get("/ui/admin")
	require.Equal(t, 200, code, page)
	assert.Equal(t, "DENY", h.Get("X-Frame-Options"))
	assert.Contains(t, h.Get("Content-Security-Policy"), "frame-ancestors 'none'")
	// Revenue: two plan fees of 99 and globex's overage beyond its hard
	// limit's 100 credits; cost: 0.0004 + 0.003 + 2 × 0.123457.
	assert.Contains(t, page, "$0.250314")
	assert.Contains(t, page, "$199.875308")
	assert.Contains(t, page, `href="/ui/admin/tenants/globex?period=2026-11"`)
	assert.Contains(t, page, "<svg")
	// The ledger's open alerts, said in words.
	code, _, alerts := b.get("/ui/admin?csv=alerts")
	require.Equal(t, 200, code)
	assert.Contains(t, alerts, ",globex,threshold,allowance:credits,100 % reached: 987.654 of 100 credits\n")
	assert.Contains(t, alerts, ",acme,threshold,allowance:credits,50 % reached: 50 of 100 credits\n")
	assert.Contains(t, alerts, ",globex,plan_violation,")

	code, _, page = b.get("/ui/admin/tenants/acme")
	require.Equal(t, 200, code, page)
	assert.Contains(t, page, "$0.0034")
	assert.Contains(t, page, `href="https://traces.example/trace/`+strings.Repeat("0", 32)+`?from=ui"`)
	tok := csrfOf(t, page)

	// No token, a wrong token: refused, nothing written.
	for _, bad := range []string{"", "00" + tok[2:]} {
		code, _, _ = b.post("/ui/admin/tenants/acme/grants", url.Values{"amount": {"500"}, "csrf": {bad}})
		assert.Equal(t, 403, code)
	}
	gs, err := f.l.Grants(context.Background(), "acme")
	require.NoError(t, err)
	assert.Empty(t, gs)
	code, h, _ = b.post("/ui/admin/tenants/acme/grants", url.Values{"amount": {"500"}, "note": {"goodwill"}, "csrf": {tok}})
	require.Equal(t, http.StatusSeeOther, code)
	assert.True(t, strings.HasPrefix(h.Get("Location"), "/ui/admin/tenants/acme?notice=grant+"), h.Get("Location"))
	gs, err = f.l.Grants(context.Background(), "acme")
	require.NoError(t, err)
	require.Len(t, gs, 1)
	assert.Equal(t, "500", gs[0].Amount.String())
	assert.Equal(t, "goodwill", gs[0].Note)
	// The token of one key is no use to another admin key.
	other, _, err := f.l.CreateKey(context.Background(), "", "ops2", "test")
	require.NoError(t, err)
	b2 := newBrowser(f)
	b2.login(other)
	code, _, _ = b2.post("/ui/admin/tenants/acme/grants", url.Values{"amount": {"500"}, "csrf": {tok}})
	assert.Equal(t, 403, code)

	code, _, csv := b.get("/ui/admin?csv=tenants")
	require.Equal(t, 200, code)
	assert.True(t, strings.HasPrefix(csv, "Tenant,Plan,Calls,AI cost,Revenue,Margin,Margin %,Flags\nglobex,starter,2,$0.246914,$100.875308,$100.628394,"), csv)
}

func uiOpts() webui.Options {
	return webui.Options{TraceURL: "https://traces.example/trace/{trace_id}?from=ui"}
}

// TestPagesEscapeSpanValues: tenant, feature and model names that are HTML
// and script come out as text on every page and in CSV cells that a
// spreadsheet would read as formulas.
func TestPagesEscapeSpanValues(t *testing.T) {
	f := newFixture(t, Options{})
	evil := `<script>alert(1)</script>"><img src=x onerror=alert(2)>`
	recs := []usage.Record{{EventID: fmt.Sprintf("%048x", "e1"), TenantID: evil, Time: now.Add(-time.Hour), Feature: "=HYPERLINK(\"x\")" + evil,
		Provider: "openai", CatalogProvider: "openai", CatalogModel: "gpt-4o", RequestModel: evil, InputTokens: 10, OutputTokens: 5,
		CostUSD: "0.01", RevenueUSD: "0.02", PricingStatus: usage.StatusPriced, Billable: true}}
	_, _, err := f.st.Insert(context.Background(), recs)
	require.NoError(t, err)
	b := newBrowser(f)
	b.login(f.admin)
	for _, p := range []string{"/ui/admin", "/ui/admin/tenants/" + url.PathEscape(evil), "/ui/customer?tenant=" + url.QueryEscape(evil)} {
		code, _, page := b.get(p)
		require.Equal(t, 200, code, p)
		assert.NotContains(t, page, "<script>", p)
		assert.NotContains(t, page, "<img src=x", p)
		assert.Contains(t, page, "&lt;script&gt;alert(1)&lt;/script&gt;", p)
	}
	_, _, csv := b.get("/ui/admin/tenants/" + url.PathEscape(evil) + "?csv=by_feature")
	assert.Contains(t, csv, "\n\"'=HYPERLINK(")
}

// TestEmptyStatesSayWhatToDo: with no calls, the pages say how to send
// some instead of showing empty charts and tables.
func TestEmptyStatesSayWhatToDo(t *testing.T) {
	f := newFixture(t, Options{})
	b := newBrowser(f)
	b.login(f.admin)
	for _, p := range []string{"/ui/admin", "/ui/admin/tenants/acme", "/ui/customer?tenant=acme"} {
		code, _, page := b.get(p)
		require.Equal(t, 200, code, p)
		assert.Contains(t, page, "No calls in this period yet. Point OTEL_EXPORTER_OTLP_ENDPOINT at the collector", p)
		assert.NotContains(t, page, "<svg class=\"chart\"", p)
	}
	_, _, page := b.get("/ui/admin/tenants/acme")
	assert.Contains(t, page, "No grants yet: add one with the form below.")
}

// TestSessionCookieSecureOverTLS: over TLS the session cookie is Secure too.
func TestSessionCookieSecureOverTLS(t *testing.T) {
	f := newFixture(t, Options{})
	srv := httptest.NewTLSServer(New(f.l, Options{}))
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := c.PostForm(srv.URL+"/ui/login", url.Values{"key": {f.keyA}})
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)
	ck := res.Header.Get("Set-Cookie")
	for _, attr := range []string{"HttpOnly", "Secure", "SameSite=Strict", "Path=/ui"} {
		assert.Contains(t, ck, attr)
	}
	res, err = c.PostForm(srv.URL+"/ui/login", url.Values{"key": {"gmk_wrong"}})
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	assert.Empty(t, res.Header.Get("Set-Cookie"))
}

// An allowance metered in AI cost (cost_usd) counts our cost of the calls:
// the admin console shows it, the tenant's own page and invoice never do.
func TestTenantViewsHideAICostAllowances(t *testing.T) {
	f := newFixturePlans(t, Options{}, `
default_plan: starter
plans:
  starter:
    monthly_fee: "99"
    credits_per_usd: "1000"
    allowances:
      - {name: credits, meter: credits, amount: "100", limit: hard}
      - {name: spend, meter: cost_usd, amount: "5", limit: soft, overage_price: "2"}
`)
	f.seed()
	// acme's cost: 0.0004 + 0.003 = 0.0034 of the 5 USD spend allowance.
	aiCost := []string{"0.0034", "4.9966", "cost_usd", "spend"}

	admin := newBrowser(f)
	admin.login(f.admin)
	code, _, page := admin.get("/ui/admin/tenants/acme")
	require.Equal(t, 200, code, page)
	assert.Contains(t, page, "4.9966", "the admin console shows the spend allowance (so the test can see it)")

	b := newBrowser(f)
	b.login(f.keyA)
	code, _, page = b.get("/ui/customer")
	require.Equal(t, 200, code, page)
	assert.Contains(t, page, "credits", "the other allowance is still shown")
	for _, s := range aiCost {
		assert.NotContains(t, page, s, "customer page shows %q", s)
	}

	res := f.call(f.keyA, "GET", "/v1/tenants/{tenant}/invoice", "/v1/tenants/acme/invoice", nil)
	require.Equal(t, 200, res.status, string(res.body))
	for _, s := range aiCost {
		assert.NotContains(t, string(res.body), s, "tenant invoice shows %q", s)
	}
	res = f.call(f.admin, "GET", "/v1/tenants/{tenant}/invoice", "/v1/tenants/acme/invoice", nil)
	require.Equal(t, 200, res.status, string(res.body))
	assert.Contains(t, string(res.body), "0.0034 of 5 cost_usd included", "an admin sees the whole invoice")
}
