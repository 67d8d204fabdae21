package genaiconv

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

func TestLookupIdentity(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs map[string]any
		key   string
		want  string
		found bool
	}{
		{"key itself", map[string]any{"tenant_id": "t0", "ai.telemetry.metadata.tenant_id": "t1"}, "tenant_id", "t0", true},
		{"Vercel metadata", map[string]any{"ai.telemetry.metadata.tenant_id": "tenant-e"}, "tenant_id", "tenant-e", true},
		{"Traceloop association property", map[string]any{"traceloop.association.properties.tenant_id": "t2"}, "tenant_id", "t2", true},
		{"prefix precedence: Vercel before Traceloop", map[string]any{
			"traceloop.association.properties.tenant_id": "t2", "ai.telemetry.metadata.tenant_id": "t1"}, "tenant_id", "t1", true},
		{"Langfuse trace metadata is JSON-encoded", map[string]any{"langfuse.trace.metadata.tenant_id": `"t3"`}, "tenant_id", "t3", true},
		{"Langfuse observation metadata", map[string]any{"langfuse.observation.metadata.tenant_id": "t4"}, "tenant_id", "t4", true},
		{"empty key value falls through to metadata", map[string]any{"tenant_id": "", "langfuse.observation.metadata.tenant_id": "t4"}, "tenant_id", "t4", true},
		{"empty prefixed value falls through", map[string]any{"ai.telemetry.metadata.tenant_id": "", "traceloop.association.properties.tenant_id": "t2"}, "tenant_id", "t2", true},
		{"int value", map[string]any{"ai.telemetry.metadata.tenant_id": 42}, "tenant_id", "42", true},
		{"OpenInference metadata JSON", map[string]any{"metadata": `{"tenant_id": "t5", "other": 1}`}, "tenant_id", "t5", true},
		{"OpenInference metadata JSON number", map[string]any{"metadata": `{"tenant_id": 7}`}, "tenant_id", "7", true},
		{"prefixed attribute beats metadata JSON", map[string]any{"metadata": `{"tenant_id": "t5"}`, "traceloop.association.properties.tenant_id": "t2"}, "tenant_id", "t2", true},
		{"a longer key with the same suffix does not match", map[string]any{"ai.telemetry.metadata.other_tenant_id": "x"}, "tenant_id", "", false},
		{"an unknown prefix does not match", map[string]any{"custom.tenant_id": "x"}, "tenant_id", "", false},
		{"absent", map[string]any{"user.id": "u"}, "tenant_id", "", false},
		{"empty key", map[string]any{"": "x"}, "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rev := range []bool{false, true} {
				got, ok := LookupIdentity(mkSpan(t, "s", tc.attrs, rev).Attributes(), tc.key)
				if got != tc.want || ok != tc.found {
					t.Fatalf("reverse=%v: got (%q, %v), want (%q, %v)", rev, got, ok, tc.want, tc.found)
				}
				// The prepared look-up must answer exactly as LookupIdentity.
				got, ok = NewIdentityLookup(mkSpan(t, "s", tc.attrs, rev).Attributes()).Lookup(tc.key)
				if got != tc.want || ok != tc.found {
					t.Fatalf("IdentityLookup, reverse=%v: got (%q, %v), want (%q, %v)", rev, got, ok, tc.want, tc.found)
				}
			}
		})
	}
}

func TestLookupIdentityDoesNotAllocate(t *testing.T) {
	m := pcommon.NewMap()
	m.PutStr("http.method", "POST")
	m.PutStr("traceloop.association.properties.tenant_id", "t2")
	m.PutStr("gen_ai.request.model", "gpt-4o")
	if n := testing.AllocsPerRun(100, func() {
		if v, ok := LookupIdentity(m, "tenant_id"); !ok || v != "t2" {
			t.Fatal("not found")
		}
	}); n != 0 {
		t.Errorf("LookupIdentity allocates %v times per call", n)
	}
}
