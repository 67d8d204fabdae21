package genaiconv

import (
	"encoding/json"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// metadataPrefixes are the prefixes under which SDKs put application metadata
// on spans, in precedence order [ai5-base][tl-assoc][langfuse-attrs].
var metadataPrefixes = [...]string{
	"ai.telemetry.metadata.",
	"traceloop.association.properties.",
	"langfuse.trace.metadata.",
	"langfuse.observation.metadata.",
}

// MetadataAttr is OpenInference's metadata JSON attribute, one of the places
// LookupIdentity looks for an identity.
const MetadataAttr = "metadata"

// LookupIdentity finds an identity attribute (a tenant, user or session key)
// on a span: the key itself, then the key under the SDK metadata prefixes
// ai.telemetry.metadata., traceloop.association.properties.,
// langfuse.trace.metadata. and langfuse.observation.metadata., then a
// top-level member of OpenInference's "metadata" JSON. Empty values do not
// count. Langfuse metadata values are JSON-encoded and are decoded when they
// hold a JSON string. It allocates only when it decodes JSON or formats a
// non-string value.
func LookupIdentity(attrs pcommon.Map, key string) (string, bool) {
	if key == "" {
		return "", false
	}
	if v, ok := attrs.Get(key); ok {
		if s := identityString(v, false); s != "" {
			return s, true
		}
	}
	best := len(metadataPrefixes)
	var found pcommon.Value
	var meta pcommon.Value
	hasMeta := false
	attrs.Range(func(k string, v pcommon.Value) bool {
		if k == MetadataAttr {
			meta, hasMeta = v, true
			return true
		}
		if len(k) <= len(key) || !strings.HasSuffix(k, key) {
			return true
		}
		p := k[:len(k)-len(key)]
		for i := 0; i < best; i++ {
			if p == metadataPrefixes[i] {
				if identityString(v, i >= 2) != "" {
					best, found = i, v
				}
				break
			}
		}
		return true
	})
	if best < len(metadataPrefixes) {
		return identityString(found, best >= 2), true
	}
	if hasMeta && meta.Type() == pcommon.ValueTypeStr {
		if s := jsonMember(meta.Str(), key); s != "" {
			return s, true
		}
	}
	return "", false
}

// identityString returns a value as a string; JSON-encoded strings (Langfuse
// metadata) are decoded when jsonEncoded.
func identityString(v pcommon.Value, jsonEncoded bool) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		s := v.Str()
		if jsonEncoded && len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
			var d string
			if json.Unmarshal([]byte(s), &d) == nil {
				return d
			}
		}
		return s
	case pcommon.ValueTypeInt, pcommon.ValueTypeBool, pcommon.ValueTypeDouble:
		return v.AsString()
	}
	return ""
}

// jsonMember returns a top-level string or number member of a JSON object.
func jsonMember(text, key string) string {
	if !strings.Contains(text, key) { // cheap pre-check before decoding
		return ""
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &m) != nil {
		return ""
	}
	r, ok := m[key]
	if !ok || len(r) == 0 {
		return ""
	}
	switch {
	case r[0] == '"':
		var s string
		if json.Unmarshal(r, &s) == nil {
			return s
		}
	case r[0] == '-' || (r[0] >= '0' && r[0] <= '9'):
		return string(r)
	}
	return ""
}

// IdentityLookup finds identity attributes on one span. It scans the span for
// SDK metadata once, so that a span without any (most spans: HTTP, database,
// plain instrumentation) costs one Get per key instead of a full scan of its
// attributes per key.
type IdentityLookup struct {
	attrs pcommon.Map
	meta  bool
}

// NewIdentityLookup prepares the identity look-ups on attrs.
func NewIdentityLookup(attrs pcommon.Map) IdentityLookup {
	meta := false
	attrs.Range(func(k string, _ pcommon.Value) bool {
		if k == MetadataAttr {
			meta = true
			return false
		}
		for _, p := range metadataPrefixes {
			if strings.HasPrefix(k, p) {
				meta = true
				return false
			}
		}
		return true
	})
	return IdentityLookup{attrs: attrs, meta: meta}
}

// Lookup is LookupIdentity on the prepared attributes.
func (l IdentityLookup) Lookup(key string) (string, bool) {
	if l.meta {
		return LookupIdentity(l.attrs, key)
	}
	if key == "" {
		return "", false
	}
	if v, ok := l.attrs.Get(key); ok {
		if s := identityString(v, false); s != "" {
			return s, true
		}
	}
	return "", false
}
