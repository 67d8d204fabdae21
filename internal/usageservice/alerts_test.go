package usageservice

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAlertsEndpoints: the seed crosses 50 % of acme's 100 credits (50 used)
// and, with globex's first call (987.654), all three of globex's thresholds;
// its second is a plan violation (after the hard limit).
// The admin lists both tenants' alerts; a tenant key its own; status filters.
func TestAlertsEndpoints(t *testing.T) {
	f := newFixture(t, Options{RatePerSecond: 1000, Burst: 1000})
	f.seed()
	ids := func(res response) []string {
		t.Helper()
		require.Equal(t, 200, res.status, string(res.body))
		var out []string
		for _, a := range res.json(t)["alerts"].([]any) {
			m := a.(map[string]any)
			d := m["detail"].(map[string]any)
			out = append(out, m["id"].(string)+" used="+d["used"].(string)+" "+m["status"].(string))
		}
		return out
	}
	acme := "threshold/acme/1793491200/allowance:credits/50 used=50 open"
	// globex's second call came after its hard limit was used up: a plan
	// violation.
	globex := []string{
		"threshold/globex/1793491200/allowance:credits/100 used=987.654 open",
		"threshold/globex/1793491200/allowance:credits/50 used=987.654 open",
		"threshold/globex/1793491200/allowance:credits/80 used=987.654 open",
		"plan_violation/globex/1793491200/limit:credits used=1975.308 open",
	}
	all := ids(f.call(f.admin, "GET", "/v1/alerts", "/v1/alerts", nil))
	assert.ElementsMatch(t, append([]string{acme}, globex...), all)
	assert.Equal(t, globex, ids(f.call(f.admin, "GET", "/v1/alerts", "/v1/alerts?tenant=globex", nil)))
	assert.Equal(t, []string{acme}, ids(f.call(f.keyA, "GET", "/v1/tenants/{tenant}/alerts", "/v1/tenants/acme/alerts", nil)))
	assert.Equal(t, globex, ids(f.call(f.keyB, "GET", "/v1/tenants/{tenant}/alerts", "/v1/tenants/globex/alerts?status=open", nil)))
	assert.Empty(t, ids(f.call(f.keyB, "GET", "/v1/tenants/{tenant}/alerts", "/v1/tenants/globex/alerts?status=resolved", nil)))
	res := f.call(f.admin, "GET", "/v1/alerts", "/v1/alerts?status=closed", nil)
	assert.Equal(t, 400, res.status)
	assert.JSONEq(t, `{"error":"bad_request","detail":"status: want open or resolved, got \"closed\""}`, string(res.body))
}
