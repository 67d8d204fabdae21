package entitlement

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadTestPlans(t testing.TB) *Plans {
	t.Helper()
	ps, err := Load(filepath.Join("testdata", "plans.yaml"))
	require.NoError(t, err)
	return ps
}

func TestParsePlansFile(t *testing.T) {
	ps := loadTestPlans(t)
	assert.Equal(t, "free", ps.DefaultPlan)
	require.Len(t, ps.Plans, 3)
	pro := ps.Plans["pro"]
	assert.Equal(t, "99", pro.MonthlyFee.Text('f'))
	assert.Equal(t, PeriodCalendarMonth, pro.BillingPeriod)
	assert.Equal(t, "1000", pro.CreditsPerUSD.Text('f'))
	require.Len(t, pro.Allowances, 2)
	c := pro.Allowances[0]
	assert.Equal(t, Allowance{Name: "credits", Meter: MeterCredits, Amount: c.Amount, Limit: LimitSoft, Overage: OverageRateCard}, c)
	assert.Equal(t, "10000", c.Amount.Text('f'))
	o := pro.Allowances[1]
	assert.Equal(t, "output", o.Bucket)
	assert.Equal(t, LimitHard, o.Limit)
	assert.True(t, o.HasOveragePrice)
	assert.Equal(t, "", o.Overage)
	assert.Equal(t, "0.00002", o.OveragePrice.Text('f'))
	assert.Equal(t, Filter{Provider: "openai", Model: "gpt-4o*", BillableOnly: true}, o.Filter)
	assert.Equal(t, PeriodAnchorDay, ps.Plans["team"].BillingPeriod)
	assert.Equal(t, 31, ps.Tenants["globex"].AnchorDay)
	assert.Equal(t, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC), ps.Tenants["trialco"].Ends)
	amt := ps.Tenants["acme"].Amounts["credits"]
	assert.Equal(t, "20000", amt.Text('f'))
	assert.Equal(t, []string{"openai/gpt-4o-mini*"}, ps.Plans["free"].Models)
}

// TestParseErrors: every refusal names line:column, the key and the value.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"both overage ways", `
plans:
  p:
    allowances:
      - {name: a, meter: calls, amount: 1, overage: rate_card, overage_price: "0.1"}
`, `5:53: plans.p.allowances[0]: overage and overage_price are exclusive: give one (rate-card revenue, or a price per unit)`},
		{"unknown key", `
plans:
  p:
    monthly_fees: 1
`, `4:5: plans.p: unknown key "monthly_fees" (want monthly_fee, billing_period, credits_per_usd, models, allowances, alerts)`},
		{"bad meter", `
plans:
  p:
    allowances:
      - {name: a, meter: dollars, amount: 1}
`, `5:26: plans.p.allowances[0].meter: want credits, tokens, cost_usd or calls, got "dollars"`},
		{"tokens without bucket", `
plans:
  p:
    allowances:
      - {name: a, meter: tokens, amount: 1}
`, `5:9: plans.p.allowances[0].bucket: required for meter tokens (one of input, output, cache_read, cache_write, reasoning, total)`},
		{"credits without rate", `
plans:
  p:
    allowances:
      - {name: a, meter: credits, amount: 1}
`, `4:5: plans.p.allowances[0].meter: credits needs the plan's credits_per_usd`},
		{"bad decimal", `
plans:
  p:
    monthly_fee: ten
`, `4:18: plans.p.monthly_fee: "ten" is not a decimal`},
		{"negative amount", `
plans:
  p:
    allowances:
      - {name: a, meter: calls, amount: -1}
`, `5:41: plans.p.allowances[0].amount: must be >= 0, got "-1"`},
		{"bad limit", `
plans:
  p:
    allowances:
      - {name: a, meter: calls, amount: 1, limit: strict}
`, `5:51: plans.p.allowances[0].limit: want hard or soft, got "strict"`},
		{"duplicate allowance", `
plans:
  p:
    allowances:
      - {name: a, meter: calls, amount: 1}
      - {name: a, meter: calls, amount: 2}
`, `6:9: plans.p.allowances[1].name: "a" given twice`},
		{"unknown default", `
default_plan: gold
plans:
  p: {}
`, `2:15: default_plan: unknown plan "gold"`},
		{"tenant unknown plan", `
plans:
  p: {}
tenants:
  acme: {plan: gold}
`, `5:16: tenants.acme.plan: unknown plan "gold"`},
		{"tenant amount for no allowance", `
plans:
  p: {}
tenants:
  acme: {plan: p, amounts: {credits: 5}}
`, `5:28: tenants.acme.amounts.credits: plan "p" has no allowance "credits"`},
		{"bad anchor", `
plans:
  p: {}
tenants:
  acme: {anchor_day: 32}
`, `5:22: tenants.acme.anchor_day: want a day of the month 1..31, got "32"`},
		{"bad end", `
plans:
  p: {}
tenants:
  acme: {ends: soon}
`, `5:16: tenants.acme.ends: want an RFC 3339 time or a date (2026-12-31), got "soon"`},
		{"bad model glob", `
plans:
  p: {models: ["gpt-4o"]}
`, `3:16: plans.p.models[0]: want a provider/model glob, got "gpt-4o"`},
		{"bad period", `
plans:
  p: {billing_period: weekly}
`, `3:23: plans.p.billing_period: want calendar_month or anchor_day, got "weekly"`},
		{"no plans", `default_plan: x`, "1:1: plans: at least one plan is required"},
		{"empty", ``, "plans file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			require.Error(t, err)
			assert.Contains(t, strings.Split(err.Error(), "\n"), tc.want, "all errors: %v", err)
		})
	}
}

func TestLoadNamesPath(t *testing.T) {
	p := filepath.Join(t.TempDir(), "plans.yaml")
	require.NoError(t, os.WriteFile(p, []byte("plans:\n  p:\n    monthly_fee: x\n"), 0o600))
	_, err := Load(p)
	require.EqualError(t, err, p+`:3:18: plans.p.monthly_fee: "x" is not a decimal`)
}

// TestSourceKeepsLastGood: a broken edit keeps the plans in use and is
// reported; a good edit replaces them.
func TestSourceKeepsLastGood(t *testing.T) {
	p := filepath.Join(t.TempDir(), "plans.yaml")
	write := func(s string, mtime time.Time) {
		require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	t0 := time.Now().Add(-time.Hour)
	write("plans:\n  a: {monthly_fee: '1'}\n", t0)
	var reported []error
	src, err := OpenSource(p, 0, func(err error) { reported = append(reported, err) })
	require.NoError(t, err)
	defer src.Stop()
	fee := src.Plans().Plans["a"].MonthlyFee
	assert.Equal(t, "1", fee.Text('f'))

	write("plans:\n  a: {monthly_fee: 'one'}\n", t0.Add(time.Minute))
	changed, err := src.Check()
	assert.False(t, changed)
	require.EqualError(t, err, p+`:2:20: plans.a.monthly_fee: "one" is not a decimal`)
	fee = src.Plans().Plans["a"].MonthlyFee
	assert.Equal(t, "1", fee.Text('f'), "last good plans kept")
	changed, err = src.Check()
	assert.False(t, changed)
	assert.NoError(t, err, "a failure is reported once")
	assert.Len(t, reported, 1)

	write("plans:\n  a: {monthly_fee: '2'}\n", t0.Add(2*time.Minute))
	changed, err = src.Check()
	require.NoError(t, err)
	assert.True(t, changed)
	fee = src.Plans().Plans["a"].MonthlyFee
	assert.Equal(t, "2", fee.Text('f'))
}

func TestPeriod(t *testing.T) {
	ps := loadTestPlans(t)
	d := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return ts
	}
	for _, tc := range []struct {
		plan, tenant, at, start, end string
	}{
		{"pro", "", "2026-11-15T10:00:00Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
		{"pro", "", "2026-12-31T23:59:59.999999999Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		{"pro", "", "2026-11-30T23:30:00-01:00", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"}, // UTC, not local
		// anchor 31: clamped to the 28th of February, the 30th of April.
		{"team", "globex", "2027-02-28T00:00:00Z", "2027-02-28T00:00:00Z", "2027-03-31T00:00:00Z"},
		{"team", "globex", "2027-02-27T23:59:59Z", "2027-01-31T00:00:00Z", "2027-02-28T00:00:00Z"},
		{"team", "globex", "2026-01-05T00:00:00Z", "2025-12-31T00:00:00Z", "2026-01-31T00:00:00Z"},
		{"team", "globex", "2027-04-30T00:00:00Z", "2027-04-30T00:00:00Z", "2027-05-31T00:00:00Z"},
		// anchor_day plan, tenant without an anchor: the 1st.
		{"team", "", "2026-11-15T00:00:00Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"},
	} {
		start, end := Period(ps.Plans[tc.plan], ps.Tenants[tc.tenant], d(tc.at))
		assert.Equal(t, d(tc.start), start, "%+v", tc)
		assert.Equal(t, d(tc.end), end, "%+v", tc)
	}
}

func TestPlanFor(t *testing.T) {
	ps := loadTestPlans(t)
	pl, _ := ps.PlanFor("acme", "team") // the plans file's override wins
	assert.Equal(t, "pro", pl.Name)
	pl, _ = ps.PlanFor("initech", "team") // the record's plan (billing.plans)
	assert.Equal(t, "team", pl.Name)
	pl, _ = ps.PlanFor("initech", "gold") // unknown: the default
	assert.Equal(t, "free", pl.Name)
	ps.DefaultPlan = ""
	pl, _ = ps.PlanFor("initech", "")
	assert.Nil(t, pl)
}

func TestAlertsConfig(t *testing.T) {
	ps, err := Parse([]byte(`
plans:
  dflt: {}
  p:
    alerts:
      thresholds: ["25", "12.5"]
      spike: {window: 30m, baseline: 6h, k: "4", floor: "2.50"}
`))
	require.NoError(t, err)
	d := ps.Plans["dflt"].Alerts
	assert.Equal(t, []string{"50", "80", "100"}, percents(d.Thresholds))
	assert.Equal(t, time.Hour, d.Spike.Window)
	assert.Equal(t, 24*time.Hour, d.Spike.Baseline)
	assert.Equal(t, "3", d.Spike.K.String())
	assert.Equal(t, "10", d.Spike.Floor.String())
	p := ps.Plans["p"].Alerts
	assert.Equal(t, []string{"25", "12.5"}, percents(p.Thresholds))
	assert.Equal(t, 30*time.Minute, p.Spike.Window)
	assert.Equal(t, 6*time.Hour, p.Spike.Baseline)
	assert.Equal(t, "4", p.Spike.K.String())
	assert.Equal(t, "2.50", p.Spike.Floor.String())

	_, err = Parse([]byte(`
plans:
  p:
    alerts:
      thresholds: ["0", "80", "80", "x"]
      spike: {window: 2h, baseline: 1h, k: "0"}
`))
	require.Error(t, err)
	assert.Equal(t, `5:20: plans.p.alerts.thresholds[0]: must be > 0, got "0"
5:31: plans.p.alerts.thresholds[2]: "80" given twice
5:37: plans.p.alerts.thresholds[3]: "x" is not a decimal
6:44: plans.p.alerts.spike.k: must be > 0, got "0"
6:14: plans.p.alerts.spike.baseline: must be at least the window (2h0m0s), got 1h0m0s`, err.Error())
}

func TestThresholdsCrossed(t *testing.T) {
	al := DefaultAlerts()
	dec := func(s string) *apd.Decimal { d, _, _ := apd.NewFromString(s); return d }
	for _, c := range []struct {
		amount, before, after string
		want                  []string
	}{
		{"1000", "0", "499.99", nil},
		{"1000", "0", "500", []string{"50"}},
		{"1000", "499.99", "800", []string{"50", "80"}},
		{"1000", "500", "799.999", nil},
		{"1000", "799", "5000", []string{"80", "100"}},
		{"1000", "1000", "2000", nil},
		{"0", "0", "10", nil},
		{"3", "1", "1.5", []string{"50"}},
	} {
		assert.Equal(t, c.want, percents(al.Crossed(dec(c.amount), dec(c.before), dec(c.after))), "%+v", c)
	}
}

func percents(ds []apd.Decimal) []string {
	var out []string
	for i := range ds {
		out = append(out, Percent(&ds[i]))
	}
	return out
}
