package usageservice

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

const plansYAML = `
default_plan: starter
plans:
  starter:
    monthly_fee: "99"
    credits_per_usd: "1000"
    models: ["openai/gpt-4o*"]
    allowances:
      - {name: credits, meter: credits, amount: "100", limit: hard}
`

// fixture is a ledger with two tenants, an API over it on loopback, and keys.
type fixture struct {
	t        *testing.T
	st       *sqlitestore.Store
	l        *balances.Ledger
	srv      *httptest.Server
	spec     *spec
	clock    *fakeClock
	admin    string
	keyA     string
	keyB     string
	keyAID   string
	bGrantID string
	mu       sync.Mutex
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var now = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func newFixture(t *testing.T, opts Options) *fixture {
	return newFixturePlans(t, opts, plansYAML)
}

// newFixturePlans is newFixture with another plans file.
func newFixturePlans(t *testing.T, opts Options, plans string) *fixture {
	ps, err := entitlement.Parse([]byte(plans))
	require.NoError(t, err)
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "usage.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	require.NoError(t, st.Migrate(ctx))
	l := balances.ForSQLite(st, entitlement.StaticSource(ps), true)
	f := &fixture{t: t, st: st, l: l, spec: loadSpec(t), clock: &fakeClock{now: now}}
	opts.Now = f.clock.Now
	f.srv = httptest.NewServer(New(l, opts))
	t.Cleanup(f.srv.Close)
	f.admin, _, err = l.CreateKey(ctx, "", "ops", "test")
	require.NoError(t, err)
	var kA balances.Key
	f.keyA, kA, err = l.CreateKey(ctx, "acme", "acme app", "test")
	require.NoError(t, err)
	f.keyAID = kA.ID
	f.keyB, _, err = l.CreateKey(ctx, "globex", "globex app", "test")
	require.NoError(t, err)
	return f
}

// seed stores calls of both tenants. B's numbers are distinctive so that a
// leak shows: 777777 tokens, revenue 0.987654, feature "globex-secret".
func (f *fixture) seed() {
	recs := []usage.Record{
		{EventID: fmt.Sprintf("%048x", "a1"), TenantID: "acme", Time: now.Add(-2 * time.Hour), Feature: "chat", Provider: "openai", CatalogProvider: "openai",
			CatalogModel: "gpt-4o-mini", InputTokens: 1200, OutputTokens: 300, CostUSD: "0.0004", RevenueUSD: "0.03", PricingStatus: usage.StatusPriced, Billable: true},
		{EventID: fmt.Sprintf("%048x", "a2"), TenantID: "acme", Time: now.Add(-26 * time.Hour), Feature: "search", Provider: "openai", CatalogProvider: "openai",
			CatalogModel: "gpt-4o", InputTokens: 800, OutputTokens: 100, CostUSD: "0.003", RevenueUSD: "0.02", PricingStatus: usage.StatusPriced, Billable: true},
		{EventID: fmt.Sprintf("%048x", "b1"), TenantID: "globex", Time: now.Add(-3 * time.Hour), Feature: "globex-secret", Provider: "openai", CatalogProvider: "openai",
			CatalogModel: "gpt-4o", InputTokens: 777777, OutputTokens: 77777, CostUSD: "0.123457", RevenueUSD: "0.987654", PricingStatus: usage.StatusPriced, Billable: true},
		{EventID: fmt.Sprintf("%048x", "b2"), TenantID: "globex", Time: now.Add(-50 * time.Hour), Feature: "globex-secret", Provider: "openai", CatalogProvider: "openai",
			CatalogModel: "gpt-4o", InputTokens: 777777, OutputTokens: 77777, CostUSD: "0.123457", RevenueUSD: "0.987654", PricingStatus: usage.StatusPriced, Billable: true},
	}
	_, _, err := f.st.Insert(context.Background(), recs)
	require.NoError(f.t, err)
	g := &entitlement.Grant{Tenant: "globex", Amount: money.MustParse("4242.42"), Note: "globex-promo"}
	require.NoError(f.t, f.l.CreateGrant(context.Background(), g, "test"))
	f.bGrantID = g.ID
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), string(r.body))
	return m
}

// call requests path (an instance of the spec's template) with key and
// checks the response against openapi.yaml.
func (f *fixture) call(key, method, template, path string, body any) response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(f.t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	require.NoError(f.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := f.srv.Client().Do(req)
	require.NoError(f.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(f.t, err)
	f.mu.Lock()
	require.NoError(f.t, f.spec.check(method, template, res.StatusCode, res.Header, b), "%s %s: %s", method, path, b)
	f.mu.Unlock()
	assert.Equal(f.t, "application/json", res.Header.Get("Content-Type"))
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// TestTenantIsolationOnEveryEndpoint: with tenant A's key, ask for B's data
// in every way the API allows — B in the path, in a query parameter, B's
// pagination cursor, B's grant id, admin endpoints — and get 403/404, never
// one of B's numbers. A's own answers hold only A's numbers, filters
// included.
func TestTenantIsolationOnEveryEndpoint(t *testing.T) {
	f := newFixture(t, Options{RatePerSecond: 1000, Burst: 1000})
	f.seed()
	// A cursor minted for B (admin pages B's usage).
	page := f.call(f.admin, "GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/globex/usage?group_by=day&limit=1", nil)
	require.Equal(t, 200, page.status)
	bCursor, _ := page.json(t)["next_cursor"].(string)
	require.NotEmpty(t, bCursor)

	secrets := []string{"globex", "777777", "77777", "0.987654", "1.975308", "1975.308", "1875.308", "0.123457", "4242.42", f.bGrantID, "globex-secret", "globex-promo"}
	denied := []struct{ method, template, path string }{
		{"GET", "/v1/tenants/{tenant}/check", "/v1/tenants/globex/check"},
		{"GET", "/v1/tenants/{tenant}/check", "/v1/tenants/globex/check?model=gpt-4o&feature=globex-secret"},
		{"GET", "/v1/tenants/{tenant}/check", "/v1/tenants/acme/check?tenant=globex"},
		{"GET", "/v1/tenants/{tenant}/check", "/v1/tenants/acme%2F..%2Fglobex/check"},
		{"GET", "/v1/tenants/{tenant}/entitlements", "/v1/tenants/globex/entitlements"},
		{"GET", "/v1/tenants/{tenant}/entitlements", "/v1/tenants/acme/entitlements?tenant_id=globex"},
		{"GET", "/v1/tenants/{tenant}/entitlements", "/v1/tenants/GLOBEX/entitlements"},
		{"GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/globex/usage"},
		{"GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/globex/usage?group_by=day,feature,model&from=2026-01-01&to=2027-01-01"},
		{"GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?tenant=globex&group_by=day"},
		{"GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?tenant=acme&tenant=globex"},
		{"GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?group_by=day&limit=1&cursor=" + bCursor},
		{"GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/globex/usage?group_by=day&limit=1&cursor=" + bCursor},
		{"GET", "/v1/tenants/{tenant}/grants", "/v1/tenants/globex/grants"},
		{"GET", "/v1/tenants/{tenant}/grants", "/v1/tenants/acme/grants"}, // admin only, even for its own tenant
		{"POST", "/v1/tenants/{tenant}/grants", "/v1/tenants/globex/grants"},
		{"POST", "/v1/tenants/{tenant}/grants", "/v1/tenants/acme/grants"},
		{"GET", "/v1/grants/{grant}", "/v1/grants/" + f.bGrantID},
		{"POST", "/v1/grants/{grant}/void", "/v1/grants/" + f.bGrantID + "/void"},
		{"GET", "/v1/audit", "/v1/audit"},
		{"GET", "/v1/alerts", "/v1/alerts"},
		{"GET", "/v1/alerts", "/v1/alerts?tenant=globex"},
		{"GET", "/v1/alerts", "/v1/alerts?tenant=acme"}, // admin only, even for its own tenant
		{"GET", "/v1/tenants/{tenant}/alerts", "/v1/tenants/globex/alerts"},
		{"GET", "/v1/tenants/{tenant}/alerts", "/v1/tenants/globex/alerts?status=open"},
		{"GET", "/v1/tenants/{tenant}/alerts", "/v1/tenants/acme/alerts?tenant=globex"},
		{"GET", "/v1/audit", "/v1/audit?after=0&limit=1000"},
		{"GET", "/v1/tenants/{tenant}/customer-link", "/v1/tenants/globex/customer-link"},
		{"GET", "/v1/tenants/{tenant}/customer-link", "/v1/tenants/acme/customer-link"}, // admin only: a link is for the product's backend
	}
	for _, d := range denied {
		var body any
		if d.method == "POST" && strings.HasSuffix(d.path, "/grants") {
			body = map[string]any{"amount": "1000000"}
		}
		res := f.call(f.keyA, d.method, d.template, d.path, body)
		assert.Contains(t, []int{403, 404}, res.status, "%s %s: %s", d.method, d.path, res.body)
		for _, s := range secrets {
			assert.NotContains(t, string(res.body), s, "%s %s leaks %q", d.method, d.path, s)
		}
	}
	// Nothing was changed by the refused writes.
	g, err := f.l.Grant(context.Background(), f.bGrantID)
	require.NoError(t, err)
	assert.False(t, g.Voided)
	gs, err := f.l.Grants(context.Background(), "acme")
	require.NoError(t, err)
	assert.Empty(t, gs)

	// A's own answers: only A's numbers, whatever the filters.
	allowed := []struct{ template, path string }{
		{"/v1/me", "/v1/me"},
		{"/v1/tenants/{tenant}/check", "/v1/tenants/acme/check"},
		{"/v1/tenants/{tenant}/check", "/v1/tenants/acme/check?model=gpt-4o&provider=openai&feature=globex-secret"},
		{"/v1/tenants/{tenant}/check", "/v1/tenants/acme/check?tenant=acme"},
		{"/v1/tenants/{tenant}/entitlements", "/v1/tenants/acme/entitlements"},
		{"/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?group_by=day,feature,model"},
		{"/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?group_by=feature&feature=globex-secret"},
		{"/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?group_by=model&model=gpt-4o&from=2026-01-01&to=2027-01-01"},
		{"/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?group_by=day&limit=1"},
		{"/v1/tenants/{tenant}/alerts", "/v1/tenants/acme/alerts"},
		{"/v1/tenants/{tenant}/alerts", "/v1/tenants/acme/alerts?status=open&limit=1000"},
	}
	for _, a := range allowed {
		res := f.call(f.keyA, "GET", a.template, a.path, nil)
		assert.Equal(t, 200, res.status, "%s: %s", a.path, res.body)
		for _, s := range secrets {
			assert.NotContains(t, string(res.body), s, "%s leaks %q", a.path, s)
		}
	}
	// A's own cursor pages A's rows.
	res := f.call(f.keyA, "GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?group_by=day&limit=1", nil)
	next := res.json(t)["next_cursor"].(string)
	res = f.call(f.keyA, "GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?group_by=day&limit=1&cursor="+next, nil)
	assert.Equal(t, 200, res.status)
	rows := res.json(t)["rows"].([]any)
	require.Len(t, rows, 1)
	assert.Equal(t, "2026-11-20", rows[0].(map[string]any)["day"])

	// B's key sees B: the isolation is not a blanket refusal.
	res = f.call(f.keyB, "GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/globex/usage", nil)
	assert.Equal(t, 200, res.status)
	assert.Contains(t, string(res.body), `"input_tokens":1555554`)
}

// TestAuthentication: no key, a wrong key, a malformed one and a revoked one
// are 401 on every endpoint, with nothing of the data.
func TestAuthentication(t *testing.T) {
	f := newFixture(t, Options{RatePerSecond: 1000, Burst: 1000})
	f.seed()
	wrong := f.keyA[:len(f.keyA)-4] + "0000"
	require.NoError(t, f.l.RevokeKey(context.Background(), f.keyAID, "test"))
	for name, key := range map[string]string{"no key": "", "wrong key": wrong, "malformed": "hello", "revoked key": f.keyA} {
		t.Run(name, func(t *testing.T) {
			for _, op := range f.spec.operations() {
				method, template, _ := strings.Cut(op, " ")
				path := strings.NewReplacer("{tenant}", "acme", "{grant}", f.bGrantID).Replace(template)
				res := f.call(key, method, template, path, nil)
				assert.Equal(t, 401, res.status, "%s %s", method, path)
				assert.NotEmpty(t, res.header.Get("WWW-Authenticate"))
				assert.NotContains(t, string(res.body), "acme")
			}
		})
	}
}

// TestRateLimit: a key's bucket empties, the next request is 429 with
// Retry-After, another key is unaffected, and the bucket refills with time.
func TestRateLimit(t *testing.T) {
	f := newFixture(t, Options{RatePerSecond: 0.5, Burst: 2})
	for range 2 {
		assert.Equal(t, 200, f.call(f.keyA, "GET", "/v1/me", "/v1/me", nil).status)
	}
	res := f.call(f.keyA, "GET", "/v1/me", "/v1/me", nil)
	assert.Equal(t, 429, res.status)
	assert.Equal(t, "2", res.header.Get("Retry-After"))
	assert.Equal(t, 200, f.call(f.keyB, "GET", "/v1/me", "/v1/me", nil).status)
	f.clock.Add(1999 * time.Millisecond)
	assert.Equal(t, 429, f.call(f.keyA, "GET", "/v1/me", "/v1/me", nil).status)
	f.clock.Add(time.Millisecond)
	assert.Equal(t, 200, f.call(f.keyA, "GET", "/v1/me", "/v1/me", nil).status)
}

// TestCheckIsFreshAndFlipsAtTheHardLimit: write, then ask — no waiting.
func TestCheckIsFreshAndFlipsAtTheHardLimit(t *testing.T) {
	f := newFixture(t, Options{})
	check := func() map[string]any {
		res := f.call(f.keyA, "GET", "/v1/tenants/{tenant}/check", "/v1/tenants/acme/check?provider=openai&model=gpt-4o", nil)
		require.Equal(t, 200, res.status)
		return res.json(t)
	}
	c := check()
	assert.Equal(t, true, c["allowed"])
	assert.Equal(t, "2026-12-01T00:00:00Z", c["resets_at"])
	assert.Equal(t, "100", c["allowances"].([]any)[0].(map[string]any)["remaining"])
	for i, rev := range []string{"0.06", "0.039", "0.001"} {
		_, _, err := f.st.Insert(context.Background(), []usage.Record{{EventID: fmt.Sprintf("%048x", "e"+rev), TenantID: "acme", Time: now, CatalogProvider: "openai",
			CatalogModel: "gpt-4o", PricingStatus: usage.StatusPriced, CostUSD: "0.01", RevenueUSD: rev, Billable: true}})
		require.NoError(t, err)
		c = check()
		want := []string{"40", "1", "0"}[i]
		assert.Equal(t, want, c["allowances"].([]any)[0].(map[string]any)["remaining"])
	}
	assert.Equal(t, false, c["allowed"])
	assert.Equal(t, "limit_reached", c["reason"])
	assert.Equal(t, `allowance "credits" (hard limit 100 credits) is used up until 2026-12-01T00:00:00Z`, c["detail"])

	res := f.call(f.keyA, "GET", "/v1/tenants/{tenant}/check", "/v1/tenants/acme/check?provider=anthropic&model=claude-opus-4", nil)
	assert.Equal(t, "model_not_in_plan", res.json(t)["reason"])

	// A grant (admin) reopens it at once.
	res = f.call(f.admin, "POST", "/v1/tenants/{tenant}/grants", "/v1/tenants/acme/grants", map[string]any{"amount": "25", "note": "goodwill"})
	require.Equal(t, 201, res.status, string(res.body))
	c = check()
	assert.Equal(t, true, c["allowed"])
	assert.Equal(t, "25", c["allowances"].([]any)[0].(map[string]any)["remaining"])
}

// TestGrantsAdmin: create, list, get, void — audited as records.
func TestGrantsAdmin(t *testing.T) {
	f := newFixture(t, Options{})
	f.seed()
	exp := now.AddDate(0, 1, 0).Format(time.RFC3339)
	res := f.call(f.admin, "POST", "/v1/tenants/{tenant}/grants", "/v1/tenants/acme/grants",
		map[string]any{"amount": "500.25", "priority": 1, "expires": exp, "note": "prepaid"})
	require.Equal(t, 201, res.status, string(res.body))
	g := res.json(t)
	id := g["id"].(string)
	assert.Equal(t, "500.25", g["remaining"])
	assert.Equal(t, exp, g["expires"])
	res = f.call(f.admin, "GET", "/v1/tenants/{tenant}/grants", "/v1/tenants/acme/grants", nil)
	require.Len(t, res.json(t)["grants"].([]any), 1)
	res = f.call(f.admin, "GET", "/v1/grants/{grant}", "/v1/grants/"+id, nil)
	assert.Equal(t, 200, res.status)
	res = f.call(f.admin, "POST", "/v1/grants/{grant}/void", "/v1/grants/"+id+"/void", map[string]any{"reason": "refunded"})
	assert.Equal(t, 200, res.status)
	assert.Equal(t, true, res.json(t)["voided"])
	assert.Equal(t, 404, f.call(f.admin, "GET", "/v1/grants/{grant}", "/v1/grants/gr_nope", nil).status)
	assert.Equal(t, 404, f.call(f.admin, "POST", "/v1/grants/{grant}/void", "/v1/grants/gr_nope/void", nil).status)
	for _, bad := range []map[string]any{{"amount": "-1"}, {"amount": "x"}, {"amount": "1", "meter": "dollars"}, {"amount": "1", "colour": "red"},
		{"amount": "1", "effective": exp, "expires": exp}} {
		res := f.call(f.admin, "POST", "/v1/tenants/{tenant}/grants", "/v1/tenants/acme/grants", bad)
		assert.Equal(t, 400, res.status, "%v", bad)
	}
	assert.Equal(t, 400, f.call(f.admin, "GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?group_by=week", nil).status)
	assert.Equal(t, 400, f.call(f.admin, "GET", "/v1/tenants/{tenant}/usage", "/v1/tenants/acme/usage?cursor=!!", nil).status)
	assert.Equal(t, 400, f.call(f.admin, "GET", "/v1/audit", "/v1/audit?limit=0", nil).status)

	res = f.call(f.admin, "GET", "/v1/audit", "/v1/audit", nil)
	var actions []string
	for _, r := range res.json(t)["records"].([]any) {
		actions = append(actions, r.(map[string]any)["action"].(string))
	}
	assert.Equal(t, []string{"key.create", "key.create", "key.create", "grant.create", "grant.create", "grant.void"}, actions)

	// A past period: October has no calls; a bad date is refused.
	res = f.call(f.admin, "GET", "/v1/tenants/{tenant}/entitlements", "/v1/tenants/globex/entitlements?at=2026-10-15", nil)
	assert.Equal(t, "2026-11-01T00:00:00Z", res.json(t)["resets_at"])
	assert.Empty(t, res.json(t)["balances"])
	assert.Equal(t, 400, f.call(f.admin, "GET", "/v1/tenants/{tenant}/entitlements", "/v1/tenants/globex/entitlements?at=yesterday", nil).status)
	res = f.call(f.admin, "GET", "/v1/tenants/{tenant}/entitlements", "/v1/tenants/globex/entitlements?at=2026-11-02T00:00:00Z", nil)
	assert.Len(t, res.json(t)["balances"], 1)

	res = f.call(f.admin, "GET", "/v1/tenants/{tenant}/entitlements", "/v1/tenants/globex/entitlements", nil)
	e := res.json(t)
	assert.Equal(t, "99", e["monthly_fee"])
	b := e["balances"].([]any)[0].(map[string]any)
	// b1 and b2 (both this month): 1975.308 credits, 100 included; the grant
	// came after them, so it covers later calls only: the rest is overage.
	assert.Equal(t, []any{"1975.308", "100", "0", "1875.308"}, []any{b["used"], b["included"], b["granted"], b["overage"]})
	assert.Equal(t, "4242.42", e["grants"].([]any)[0].(map[string]any)["remaining"])
}

// TestEveryOperationIsExercised: the tests above call every operation of
// openapi.yaml (run last in this file's order by name is not guaranteed, so
// it drives its own calls).
func TestEveryOperationIsExercised(t *testing.T) {
	f := newFixture(t, Options{})
	f.seed()
	for _, op := range f.spec.operations() {
		method, template, _ := strings.Cut(op, " ")
		path := strings.NewReplacer("{tenant}", "globex", "{grant}", f.bGrantID).Replace(template)
		var body any
		if method == "POST" && strings.HasSuffix(template, "/grants") {
			body = map[string]any{"amount": "1"}
		}
		res := f.call(f.admin, method, template, path, body)
		assert.Less(t, res.status, 300, "%s: %s", op, res.body)
	}
	for _, op := range f.spec.operations() {
		assert.True(t, f.spec.seen[op], op)
	}
}
