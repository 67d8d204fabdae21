package usageservice

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMarginAndInvoiceIsolation: the margin report is admin only, whatever
// the period; a tenant key gets its own invoice preview — no cost, no
// margin, none of another tenant's numbers — and 403 for any other tenant's.
func TestMarginAndInvoiceIsolation(t *testing.T) {
	f := newFixture(t, Options{RatePerSecond: 1000, Burst: 1000})
	f.seed()
	secrets := []string{"globex", "0.987654", "1.875308", "100.875308", "0.123457", "0.246914", "1875.308", "4242.42"}
	for _, d := range []struct{ template, path string }{
		{"/v1/reports/margin", "/v1/reports/margin"},
		{"/v1/reports/margin", "/v1/reports/margin?period=2026-11"},
		{"/v1/reports/margin", "/v1/reports/margin?tenant=acme"},
		{"/v1/tenants/{tenant}/invoice", "/v1/tenants/globex/invoice"},
		{"/v1/tenants/{tenant}/invoice", "/v1/tenants/globex/invoice?period=2026-11"},
		{"/v1/tenants/{tenant}/invoice", "/v1/tenants/acme/invoice?tenant=globex"},
		{"/v1/tenants/{tenant}/invoice", "/v1/tenants/GLOBEX/invoice"},
	} {
		res := f.call(f.keyA, "GET", d.template, d.path, nil)
		assert.Equal(t, 403, res.status, "%s: %s", d.path, res.body)
		for _, s := range secrets {
			assert.NotContains(t, string(res.body), s, "%s leaks %q", d.path, s)
		}
	}
	res := f.call(f.keyA, "GET", "/v1/tenants/{tenant}/invoice", "/v1/tenants/acme/invoice?period=2026-11", nil)
	require.Equal(t, 200, res.status, string(res.body))
	body := string(res.body)
	for _, s := range append(secrets, "cost", "margin", "0.0034", "0.0004", "0.003") {
		assert.NotContains(t, body, s)
	}
	inv := res.json(t)
	assert.Equal(t, "99", inv["total_usd"])
	assert.Equal(t, true, inv["preview"])
	assert.Equal(t, []any{
		map[string]any{"description": "plan starter: monthly fee", "amount_usd": "99"},
		map[string]any{"description": "allowance credits: 50 of 100 credits included", "quantity": "50", "amount_usd": "0"},
	}, inv["lines"])

	// The admin sees both, with cost and margin. globex: 1975.308 credits
	// over 100 included; the overage is the rate card of the credits beyond:
	// 0.987654 × 887.654/987.654 = 0.887654, plus 0.987654.
	res = f.call(f.admin, "GET", "/v1/reports/margin", "/v1/reports/margin?period=2026-11", nil)
	require.Equal(t, 200, res.status, string(res.body))
	var got []string
	for _, tm := range res.json(t)["tenants"].([]any) {
		m := tm.(map[string]any)
		got = append(got, strings.Join([]string{m["tenant"].(string), m["revenue_usd"].(string), m["cost_usd"].(string), m["margin_usd"].(string), m["margin_pct"].(string)}, " "))
	}
	assert.Equal(t, []string{"acme 99 0.0034 98.9966 100", "globex 100.875308 0.246914 100.628394 99.76"}, got)
	res = f.call(f.admin, "GET", "/v1/tenants/{tenant}/invoice", "/v1/tenants/globex/invoice", nil)
	require.Equal(t, 200, res.status)
	assert.Equal(t, "100.875308", res.json(t)["total_usd"])

	assert.Equal(t, 400, f.call(f.admin, "GET", "/v1/reports/margin", "/v1/reports/margin?period=november", nil).status)
	assert.Equal(t, 400, f.call(f.keyA, "GET", "/v1/tenants/{tenant}/invoice", "/v1/tenants/acme/invoice?period=2026-13", nil).status)
	assert.Equal(t, 404, f.call(f.admin, "GET", "/v1/tenants/{tenant}/invoice", "/v1/tenants/ghost/invoice?period=2020-01", nil).status)
}
