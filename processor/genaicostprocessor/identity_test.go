package genaicostprocessor

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
)

// genaiconvIdentity is the identity genaiconv's full look-up finds on attrs
// for the configured keys: what ownIdentity must find, with or without its
// one-pass shortcut.
func genaiconvIdentity(fields [ancestry.NumFields][]string, attrs pcommon.Map) ancestry.Identity {
	var id ancestry.Identity
	for f, keys := range fields {
		for _, k := range keys {
			if s, ok := genaiconv.LookupIdentity(attrs, k); ok && s != "" {
				id[f] = s
				break
			}
		}
	}
	return id
}

// TestOwnIdentityIsGenaiconvs: the identity ownIdentity reads on a span is
// the one genaiconv.LookupIdentity finds, key by key in the configured order:
// on the spans of every real-client capture and their resources, and on
// attributes made to fool a shortcut (a configured key behind an SDK prefix
// or any other, the metadata JSON, empty and non-string values, keys that
// share a configured key's last bytes), under the default keys, custom keys,
// and a key too short for the shortcut.
func TestOwnIdentityIsGenaiconvs(t *testing.T) {
	var maps []pcommon.Map
	for _, name := range realClientCaptures {
		td := loadCapture(t, name)
		for i := 0; i < td.ResourceSpans().Len(); i++ {
			maps = append(maps, td.ResourceSpans().At(i).Resource().Attributes())
		}
		forEachSpan(td, func(s ptrace.Span) { maps = append(maps, s.Attributes()) })
	}
	plain := ptrace.NewTraces()
	plainSpans(plain, 4)
	forEachSpan(plain, func(s ptrace.Span) { maps = append(maps, s.Attributes()) })
	for _, raw := range []map[string]any{
		{},
		{"tenant.id": "acme"},
		{"tenant.id": "", "tenant_id": "fallback"},
		{"tenant.id": int64(42), "user.id": true, "session.id": 1.5},
		{"tenant.id": []any{"a"}, "tenant_id": "second"},
		{"ai.telemetry.metadata.tenant.id": "from-ai-sdk"},
		{"traceloop.association.properties.user_id": "from-traceloop", "user.id": ""},
		{"langfuse.trace.metadata.tenant.id": `"json-encoded"`},
		{"langfuse.observation.metadata.session_id": "plain"},
		{"custom.prefix.tenant.id": "not a known prefix"},
		{"metadata": `{"tenant.id":"from-openinference","user_id":7}`},
		{"metadata": `{"other":"x"}`, "tenant.id": "exact"},
		{"gen_ai.response.id": "chatcmpl-1", "gen_ai.conversation.id": "conv-9"},
		{"xtenant.id": "suffix without a dot", "tenant.id": "exact"},
		{"feature": "search", "app.feature": "second", "userId": "u-camel"},
		{"id": "two bytes", "d": "one byte", "": "empty key"},
	} {
		m := pcommon.NewMap()
		require.NoError(t, m.FromRaw(raw))
		maps = append(maps, m)
	}

	for _, keys := range []struct {
		name   string
		fields [ancestry.NumFields][]string
	}{
		{"default", [ancestry.NumFields][]string{defaultTenantKeys, defaultUserKeys, defaultSessionKeys, defaultFeatureKeys}},
		{"custom", [ancestry.NumFields][]string{{"org", "tenant.id"}, {"id", "user.id"}, {"gen_ai.response.id"}, {"tenant.id"}}},
		{"short key", [ancestry.NumFields][]string{{"d", "tenant.id"}, {"user.id"}, nil, nil}},
	} {
		t.Run(keys.name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Attribution.Tenant, cfg.Attribution.User = keys.fields[idTenant], keys.fields[idUser]
			cfg.Attribution.Session, cfg.Attribution.Feature = keys.fields[idSession], keys.fields[idFeature]
			p, err := newCostProcessor(processortest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			require.NoError(t, err)
			assert.Equal(t, keys.name == "short key", p.idKeys.off)
			found := 0
			for i, m := range maps {
				want := genaiconvIdentity(keys.fields, m)
				if want != (ancestry.Identity{}) {
					found++
				}
				assert.Equal(t, want, p.ownIdentity(m), "attributes %d: %v", i, m.AsRaw())
			}
			assert.Positive(t, found, "no identity in any of the attributes: the test proves nothing")
		})
	}
}
