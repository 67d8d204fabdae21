package genaicostprocessor

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/ptracetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

// exampleConfig loads the genai_cost section of config/billing-rules.yaml,
// the documented example, with its plans path made relative to this package.
func exampleConfig(t testing.TB) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("..", "..", "config", "billing-rules.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("processors::genai_cost")
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	require.NoError(t, sub.Unmarshal(cfg))
	require.NoError(t, confmap.Validate(cfg))
	require.Equal(t, "./config/tenants/plans.yaml", cfg.Billing.Plans.File)
	cfg.Billing.Plans.File = filepath.Join("..", "..", cfg.Billing.Plans.File)
	return cfg
}

// billingCase is one LLM call under its own resource.
type billingCase struct {
	name     string
	resource map[string]any
	attrs    map[string]any
	failed   bool // span status error

	billable bool
	reason   string
	plan     string
	tenant   string
}

// callAttrs are the attributes of a priced gpt-4o call (cost 0.01755) plus extra.
func callAttrs(extra map[string]any) map[string]any {
	m := map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": 4100, "gen_ai.usage.output_tokens": 730,
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func billingBatch(cases []billingCase) ptrace.Traces {
	td := ptrace.NewTraces()
	for i, c := range cases {
		rs := td.ResourceSpans().AppendEmpty()
		_ = rs.Resource().Attributes().FromRaw(c.resource)
		s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetName(c.name)
		s.SetTraceID(pcommon.TraceID{byte(i + 1)})
		s.SetSpanID(pcommon.SpanID{byte(i + 1)})
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)))
		if c.failed {
			s.Status().SetCode(ptrace.StatusCodeError)
			s.Status().SetMessage("stream interrupted")
		}
		_ = s.Attributes().FromRaw(c.attrs)
	}
	return td
}

func outSpan(td ptrace.Traces, i int) map[string]any {
	return td.ResourceSpans().At(i).ScopeSpans().At(0).Spans().At(0).Attributes().AsRaw()
}

var prod = map[string]any{"deployment.environment.name": "production"}

// TestBillingExampleRules runs every rule of config/billing-rules.yaml, with
// config/tenants/plans.yaml, and checks each call's exact decision, reason and
// plan, that every call keeps its cost (failed ones too), the decision counter,
// and the whole output against a golden file (`-update` rewrites it).
func TestBillingExampleRules(t *testing.T) {
	cases := []billingCase{
		{name: "production", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "acme"}), billable: true, reason: "default", plan: "enterprise", tenant: "acme"},
		{name: "no environment counts as production", resource: nil, attrs: callAttrs(map[string]any{"tenant.id": "globex"}), billable: true, reason: "default", plan: "pro", tenant: "globex"},
		{name: "staging", resource: map[string]any{"deployment.environment.name": "staging"}, attrs: callAttrs(map[string]any{"tenant.id": "acme"}), reason: "non_production", plan: "enterprise", tenant: "acme"},
		{name: "pre-1.27 environment key", resource: map[string]any{"deployment.environment": "dev"}, attrs: callAttrs(map[string]any{"tenant.id": "acme"}), reason: "non_production", plan: "enterprise", tenant: "acme"},
		{name: "test tenant from the list", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "loadtest"}), reason: "internal_tenant", plan: "free", tenant: "loadtest"},
		{name: "internal plan", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "dogfood"}), reason: "internal_tenant", plan: "internal", tenant: "dogfood"},
		{name: "admin user", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "acme", "user.id": "admin"}), reason: "staff_user", plan: "enterprise", tenant: "acme"},
		{name: "qa robot", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "acme", "user.id": "qa-bot-7"}), reason: "staff_user", plan: "enterprise", tenant: "acme"},
		{name: "customer user", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "acme", "user.id": "qa-bot"}), billable: true, reason: "default", plan: "enterprise", tenant: "acme"},
		{name: "status error", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "acme"}), failed: true, reason: "failed_call", plan: "enterprise", tenant: "acme"},
		{name: "error.type", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "acme", "error.type": "timeout"}), reason: "failed_call", plan: "enterprise", tenant: "acme"},
		{name: "trial plan", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "initech"}), reason: "trial_plan", plan: "trial", tenant: "initech"},
		{name: "tenant not in the plans file", resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "newco"}), billable: true, reason: "default", plan: "free", tenant: "newco"},
		{name: "unattributed", resource: prod, attrs: callAttrs(nil), billable: true, reason: "default", plan: "free", tenant: "unattributed"},
		{name: "first match wins", resource: map[string]any{"deployment.environment.name": "staging"}, attrs: callAttrs(map[string]any{"tenant.id": "initech"}), failed: true, reason: "non_production", plan: "trial", tenant: "initech"},
	}
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, sink := newTestProcessor(t, exampleConfig(t), tel)
	require.NoError(t, p.ConsumeTraces(context.Background(), billingBatch(cases)))
	require.Len(t, sink.AllTraces(), 1)
	out := sink.AllTraces()[0]
	require.Equal(t, len(cases), out.ResourceSpans().Len())

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := outSpan(out, i)
			assert.Equal(t, c.billable, a[usage.AttrBillable])
			assert.Equal(t, c.reason, a[usage.AttrBillableReason])
			assert.Equal(t, c.plan, a[usage.AttrPlan])
			assert.Equal(t, c.tenant, a[usage.AttrTenantID])
			// Raw usage stays whole: every call keeps its status and cost.
			assert.Equal(t, "priced", a[usage.AttrPricingStatus])
			assert.Equal(t, "0.01755", a[usage.AttrCostUSD])
		})
	}

	decisions := func(billable bool, reason string, n int64) metricdata.DataPoint[int64] {
		return metricdata.DataPoint[int64]{Attributes: attribute.NewSet(attribute.Bool("billable", billable), attribute.String("reason", reason)), Value: n}
	}
	metadatatest.AssertEqualProcessorGenaiCostBillableDecisions(t, tel, []metricdata.DataPoint[int64]{
		decisions(true, "default", 5),
		decisions(false, "non_production", 3),
		decisions(false, "internal_tenant", 2),
		decisions(false, "staff_user", 2),
		decisions(false, "failed_call", 2),
		decisions(false, "trial_plan", 1),
	}, metricdatatest.IgnoreTimestamp())

	expectedFile := filepath.Join("testdata", "billing", "example-rules.expected.yaml")
	if *update {
		require.NoError(t, golden.WriteTraces(t, expectedFile, out))
	}
	want, err := golden.ReadTraces(expectedFile)
	require.NoError(t, err)
	require.NoError(t, ptracetest.CompareTraces(want, out))
}

// TestDefaultBillingRules checks the default rule list (failed calls are not
// billable and keep their cost), that no plan is written without plans, and
// that `rules: []` bills every call.
func TestDefaultBillingRules(t *testing.T) {
	cases := []billingCase{
		{name: "ok", attrs: callAttrs(map[string]any{"tenant.id": "acme"})},
		{name: "failed", attrs: callAttrs(map[string]any{"tenant.id": "acme"}), failed: true},
		{name: "error.type", attrs: callAttrs(map[string]any{"tenant.id": "acme", "error.type": "429"})},
	}
	for name, tc := range map[string]struct {
		rules   []BillingRule
		reasons []string
	}{
		"default rules": {nil, []string{"default", "failed_call", "failed_call"}},
		"no rules":      {[]BillingRule{}, []string{"default", "default", "default"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			if tc.rules != nil {
				cfg.Billing.Rules = tc.rules
			}
			p, sink := newTestProcessor(t, cfg, nil)
			in := billingBatch(cases)
			// A replayed span metered before keeps no stale plan.
			in.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().PutStr(usage.AttrPlan, "stale")
			require.NoError(t, p.ConsumeTraces(context.Background(), in))
			out := sink.AllTraces()[0]
			for i, reason := range tc.reasons {
				a := outSpan(out, i)
				assert.Equal(t, reason, a[usage.AttrBillableReason], cases[i].name)
				assert.Equal(t, reason == "default", a[usage.AttrBillable], cases[i].name)
				assert.Equal(t, "0.01755", a[usage.AttrCostUSD], cases[i].name)
				assert.NotContains(t, a, usage.AttrPlan, cases[i].name)
			}
		})
	}
}

// errorRules: the first rule fails to evaluate on a span whose meta is not
// JSON; the second decides the calls it lets through.
func errorRules() []BillingRule {
	return []BillingRule{
		{Name: "meta_internal", Condition: `ParseJSON(attributes["meta"])["internal"] == true`},
		{Name: "big_call", Condition: `attributes["gen_ai.usage.input_tokens"] > 4000`},
	}
}

const parseJSONError = `genai_cost: billing.rules[0] (meta_internal): `

// TestRuleErrorModes checks what a rule that fails at run time does under each
// error_mode: ignore and silent go on to the next rule (ignore logs), propagate
// refuses the batch with the rule's index and name; all count the error.
func TestRuleErrorModes(t *testing.T) {
	cases := []billingCase{
		{name: "internal", attrs: callAttrs(map[string]any{"tenant.id": "acme", "meta": `{"internal": true}`})},
		{name: "broken meta", attrs: callAttrs(map[string]any{"tenant.id": "acme", "meta": `{"internal": tru`})},
	}
	for _, mode := range []ottl.ErrorMode{ottl.IgnoreError, ottl.SilentError, ottl.PropagateError} {
		t.Run(string(mode), func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			core, logs := observer.New(zap.WarnLevel)
			set := metadatatest.NewSettings(tel)
			set.Logger = zap.New(core)
			cfg := createDefaultConfig().(*Config)
			cfg.Billing.Rules = errorRules()
			cfg.Billing.ErrorMode = mode
			sink := new(consumertest.TracesSink)
			p, err := NewFactory().CreateTraces(context.Background(), set, cfg, sink)
			require.NoError(t, err)
			require.NoError(t, p.Start(context.Background(), componenttest.NewNopHost()))
			t.Cleanup(func() { require.NoError(t, p.Shutdown(context.Background())) })

			err = p.ConsumeTraces(context.Background(), billingBatch(cases))
			metadatatest.AssertEqualProcessorGenaiCostRuleErrors(t, tel, []metricdata.DataPoint[int64]{{
				Attributes: attribute.NewSet(attribute.String("rule", "meta_internal")), Value: 1,
			}}, metricdatatest.IgnoreTimestamp())

			if mode == ottl.PropagateError {
				require.Error(t, err)
				assert.Regexp(t, `^`+regexpQuote(parseJSONError)+`.+`, err.Error())
				assert.Empty(t, sink.AllTraces(), "the batch is refused")
				require.Equal(t, 1, logs.Len())
				assert.Equal(t, zap.ErrorLevel, logs.All()[0].Level)
				return
			}
			require.NoError(t, err)
			out := sink.AllTraces()[0]
			assert.Equal(t, "meta_internal", outSpan(out, 0)[usage.AttrBillableReason])
			assert.Equal(t, false, outSpan(out, 0)[usage.AttrBillable])
			// The failing rule is skipped: the next one decides.
			assert.Equal(t, "big_call", outSpan(out, 1)[usage.AttrBillableReason])
			assert.Equal(t, "0.01755", outSpan(out, 1)[usage.AttrCostUSD])
			if mode == ottl.SilentError {
				assert.Zero(t, logs.Len())
				return
			}
			require.Equal(t, 1, logs.Len())
			entry := logs.All()[0]
			assert.Equal(t, zap.WarnLevel, entry.Level)
			assert.Equal(t, "meta_internal", entry.ContextMap()["rule"])
			assert.Equal(t, int64(0), entry.ContextMap()["rule_index"])
		})
	}
}

func regexpQuote(s string) string {
	out := make([]rune, 0, len(s))
	for _, r := range s {
		if r == '(' || r == ')' || r == '[' || r == ']' || r == '.' {
			out = append(out, '\\')
		}
		out = append(out, r)
	}
	return string(out)
}

// TestPropagateKeepsHeldCalls checks that when propagate refuses a batch, a
// call held earlier and let go by that batch (its parent arrived in it) still
// goes on: it was accepted with an earlier batch, nobody would resend it.
func TestPropagateKeepsHeldCalls(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	_, tp, sink, _ := newHoldingProcessor(t, tel, func(cfg *Config) {
		cfg.Billing.Rules = errorRules()
		cfg.Billing.ErrorMode = ottl.PropagateError
	})
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })

	child := llmCall(1, 2, 1) // waits for its parent, span 1
	child.attrs["meta"] = `{"internal": false}`
	require.NoError(t, tp.ConsumeTraces(context.Background(), batch(child)))
	require.Empty(t, sink.AllTraces(), "held")

	parent := testSpan{trace: 1, span: 1, attrs: map[string]any{"tenant.id": "acme"}}
	bad := llmCall(2, 1, 0)
	bad.attrs["meta"] = "not json"
	bad.attrs["tenant.id"] = "acme"
	err := tp.ConsumeTraces(context.Background(), batch(parent, bad))
	require.Error(t, err)
	assert.Contains(t, err.Error(), parseJSONError)

	require.Len(t, sink.AllTraces(), 1, "the held call went on by itself")
	got := sink.AllTraces()[0]
	require.Equal(t, 1, got.SpanCount())
	a := got.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().AsRaw()
	assert.Equal(t, "acme", a[usage.AttrTenantID])
	assert.Equal(t, "big_call", a[usage.AttrBillableReason])
	assert.Equal(t, false, a[usage.AttrBillable])
}

// TestPropagateOnReleaseFlagsRuleError checks a rule error on a call let go
// from the hold (at shutdown here): there is no sender to refuse, so the call
// goes on flagged not billable with reason rule_error, keeping its cost.
func TestPropagateOnReleaseFlagsRuleError(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	_, tp, sink, _ := newHoldingProcessor(t, tel, func(cfg *Config) {
		cfg.Billing.Rules = errorRules()
		cfg.Billing.ErrorMode = ottl.PropagateError
	})
	child := llmCall(1, 2, 1)
	child.attrs["meta"] = "not json"
	require.NoError(t, tp.ConsumeTraces(context.Background(), batch(child)))
	require.NoError(t, tp.Shutdown(context.Background()))

	require.Len(t, sink.AllTraces(), 1)
	a := sink.AllTraces()[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().AsRaw()
	assert.Equal(t, false, a[usage.AttrBillable])
	assert.Equal(t, "rule_error", a[usage.AttrBillableReason])
	assert.Equal(t, "0.01755", a[usage.AttrCostUSD])
	metadatatest.AssertEqualProcessorGenaiCostBillableDecisions(t, tel, []metricdata.DataPoint[int64]{{
		Attributes: attribute.NewSet(attribute.Bool("billable", false), attribute.String("reason", "rule_error")), Value: 1,
	}}, metricdatatest.IgnoreTimestamp())
}

func writePlans(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	require.NoError(t, os.Chtimes(path, mtime, mtime))
}

// TestPlansReload checks that a rewritten plans file applies to the next
// calls (rules included), that a broken rewrite keeps the last good plans,
// and that both reloads are counted.
func TestPlansReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.yaml")
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	writePlans(t, path, "acme: pro\n", t0)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	p, tp, sink, _ := newHoldingProcessor(t, tel, func(cfg *Config) {
		cfg.Billing.Plans = PlansConfig{File: path, DefaultPlan: "free"} // no interval: the test drives the checks
		cfg.Billing.Rules = []BillingRule{{Name: "trial_plan", Condition: `attributes["genaimeter.plan"] == "trial"`}}
	})
	t.Cleanup(func() { require.NoError(t, tp.Shutdown(context.Background())) })
	meter := func() map[string]any {
		t.Helper()
		n := len(sink.AllTraces())
		require.NoError(t, tp.ConsumeTraces(context.Background(), billingBatch([]billingCase{{attrs: callAttrs(map[string]any{"tenant.id": "acme"})}})))
		require.Len(t, sink.AllTraces(), n+1)
		return outSpan(sink.AllTraces()[n], 0)
	}

	a := meter()
	assert.Equal(t, "pro", a[usage.AttrPlan])
	assert.Equal(t, "default", a[usage.AttrBillableReason])

	writePlans(t, path, "acme: trial\n", t0.Add(time.Second))
	changed, err := p.billing.plans.Check()
	require.NoError(t, err)
	require.True(t, changed)
	a = meter()
	assert.Equal(t, "trial", a[usage.AttrPlan])
	assert.Equal(t, "trial_plan", a[usage.AttrBillableReason])
	assert.Equal(t, false, a[usage.AttrBillable])

	writePlans(t, path, "acme: [pro\n", t0.Add(2*time.Second))
	_, err = p.billing.plans.Check()
	require.Error(t, err)
	a = meter()
	assert.Equal(t, "trial", a[usage.AttrPlan], "last good plans kept")

	metadatatest.AssertEqualProcessorGenaiCostPlanReloads(t, tel, []metricdata.DataPoint[int64]{
		{Attributes: attribute.NewSet(attribute.String("outcome", "success")), Value: 1},
		{Attributes: attribute.NewSet(attribute.String("outcome", "failure")), Value: 1},
	}, metricdatatest.IgnoreTimestamp())
}

// TestPlansReloadInBackground checks, through the factory, that the reload
// loop picks a rewritten file up by itself and stops at shutdown.
func TestPlansReloadInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.yaml")
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	writePlans(t, path, "acme: pro\n", t0)
	cfg := createDefaultConfig().(*Config)
	cfg.Billing.Plans = PlansConfig{File: path, DefaultPlan: "free", ReloadInterval: 5 * time.Millisecond}
	p, sink := newTestProcessor(t, cfg, nil)
	writePlans(t, path, "acme: enterprise\n", t0.Add(time.Second))
	require.Eventually(t, func() bool {
		require.NoError(t, p.ConsumeTraces(context.Background(), billingBatch([]billingCase{{attrs: callAttrs(map[string]any{"tenant.id": "acme"})}})))
		all := sink.AllTraces()
		return outSpan(all[len(all)-1], 0)[usage.AttrPlan] == "enterprise"
	}, 10*time.Second, 10*time.Millisecond)
}

// TestStartFailsOnBadPlansFile checks that a missing or malformed plans file
// fails the start with the config key, the path and the reason.
func TestStartFailsOnBadPlansFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("acme: pro\nacme: free\n"), 0o600))
	missing := filepath.Join(dir, "nope.yaml")
	for name, tc := range map[string]struct{ path, want string }{
		"missing":   {missing, "genai_cost: loading billing.plans.file: " + missing + ": stat " + missing + ": no such file or directory"},
		"malformed": {bad, "genai_cost: loading billing.plans.file: " + bad + `: line 2: key "acme" given twice`},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Billing.Plans = PlansConfig{File: tc.path, DefaultPlan: "free", ReloadInterval: time.Second}
			p, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			require.NoError(t, err)
			err = p.Start(context.Background(), componenttest.NewNopHost())
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			require.NoError(t, p.Shutdown(context.Background()))
		})
	}
}

// TestBadOTTLFailsTheFactory checks that the factory, which parses the rules
// again with the real settings, refuses a rule that does not parse.
func TestBadOTTLFailsTheFactory(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Billing.Rules = []BillingRule{{Name: "x", Condition: `attributes["a"] == "b"`}, {Name: "y", Condition: `NoSuchFunc(attributes["a"])`}}
	_, err := NewFactory().CreateTraces(context.Background(), processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.Error(t, err)
	assert.Equal(t, "billing.rules[1].condition: 1:1: condition failed to parse near `NoSuchFunc`: undefined function \"NoSuchFunc\"", err.Error())
}

// TestUnknownErrorModeFailsUnmarshal: error_mode is checked when the config
// is decoded, with the key and the value in the message.
func TestUnknownErrorModeFailsUnmarshal(t *testing.T) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	sub, err := cm.Sub("genai_cost/bad_error_mode")
	require.NoError(t, err)
	err = sub.Unmarshal(createDefaultConfig())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "billing")
	assert.Contains(t, err.Error(), "error_mode")
	assert.Contains(t, err.Error(), "unknown error mode loud")
}

// BenchmarkBillingRules measures the plan look-up and the evaluation of the
// five example rules on one call: when no rule matches (all five run, the
// worst case) and when the first one does.
func BenchmarkBillingRules(b *testing.B) {
	cfg := exampleConfig(b)
	require.Len(b, cfg.Billing.Rules, 5)
	p, err := newCostProcessor(processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
	require.NoError(b, err)
	require.NoError(b, p.start(context.Background(), componenttest.NewNopHost()))
	b.Cleanup(func() { require.NoError(b, p.shutdown(context.Background())) })
	for _, bc := range []struct {
		name, env, reason string
	}{
		{"no_match", "production", "default"},
		{"first_matches", "staging", "non_production"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			td := billingBatch([]billingCase{{resource: map[string]any{"deployment.environment.name": bc.env, "service.name": "chat-api"},
				attrs: callAttrs(map[string]any{"tenant.id": "acme", "user.id": "u-1842"})}})
			rs := td.ResourceSpans().At(0)
			ss := rs.ScopeSpans().At(0)
			span := ss.Spans().At(0)
			span.Attributes().PutStr(usage.AttrTenantID, "acme")
			span.Attributes().PutStr(usage.AttrUserID, "u-1842")
			span.Attributes().PutStr(usage.AttrCostUSD, "0.01755")
			var n billingCounts
			var d *decision
			b.ReportAllocs()
			for b.Loop() {
				span.Attributes().PutStr(usage.AttrPlan, p.billing.plan("acme"))
				d = p.billing.decide(context.Background(), rs, ss, span, false, &n)
			}
			require.Equal(b, bc.reason, d.reason)
		})
	}
}

// BenchmarkMeterWithRules meters a batch of 100 calls with no rules and with
// the five example rules, to show what the rules add per call.
func BenchmarkMeterWithRules(b *testing.B) {
	for _, withRules := range []bool{false, true} {
		name := "no_rules"
		cfg := createDefaultConfig().(*Config)
		cfg.Billing.Rules = []BillingRule{}
		if withRules {
			name, cfg = "five_rules", exampleConfig(b)
		}
		b.Run(name, func(b *testing.B) {
			p, err := newCostProcessor(processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			require.NoError(b, err)
			require.NoError(b, p.start(context.Background(), componenttest.NewNopHost()))
			b.Cleanup(func() { require.NoError(b, p.shutdown(context.Background())) })
			cases := make([]billingCase, 100)
			for i := range cases {
				cases[i] = billingCase{resource: prod, attrs: callAttrs(map[string]any{"tenant.id": "acme", "user.id": "u-1842"})}
			}
			td := billingBatch(cases)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.processTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(cases)), "ns/call")
		})
	}
}

// TestRulesSeeTheMeteredSpan: the billing rules run once every other
// genaimeter.* attribute is on the span (writeMeter), revenue and price
// reference included, and their decision is written last.
func TestRulesSeeTheMeteredSpan(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Pricing.Revenue.Default = &RateCardConfig{MarkupPercent: "20"}
	cfg.Billing.Rules = []BillingRule{{
		Name:      "charged_and_priced",
		Condition: `attributes["genaimeter.revenue_usd"] == "0.02106" and attributes["genaimeter.price_ref"] != nil and attributes["genaimeter.cost_usd"] == "0.01755"`,
	}}
	p, sink := newTestProcessor(t, cfg, nil)
	require.NoError(t, p.ConsumeTraces(context.Background(), spanBatch(map[string]any{
		"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
		"gen_ai.usage.input_tokens": 4100, "gen_ai.usage.output_tokens": 730,
	})))
	a := spanAttrs(sink.AllTraces()[0], 0)
	// gpt-4o: 0.01755 × 1.2 = 0.02106
	assert.Equal(t, "0.02106", a[usage.AttrRevenueUSD])
	assert.Equal(t, false, a[usage.AttrBillable])
	assert.Equal(t, "charged_and_priced", a[usage.AttrBillableReason])
}
