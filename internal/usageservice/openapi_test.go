package usageservice

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// spec is openapi.yaml, and the checker of responses against it. It knows
// the parts of OpenAPI 3.0 the file uses: $ref, type, required, properties,
// additionalProperties: false, items, enum, pattern, format date/date-time,
// and response headers.
type spec struct {
	doc  map[string]any
	seen map[string]bool // "METHOD path" exercised
}

func loadSpec(t testing.TB) *spec {
	data, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(data, &doc))
	return &spec{doc: doc, seen: map[string]bool{}}
}

func (s *spec) resolve(v any) map[string]any {
	m, _ := v.(map[string]any)
	for m != nil {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		var cur any = s.doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			cur = cur.(map[string]any)[part]
		}
		m, _ = cur.(map[string]any)
	}
	return m
}

// check validates a response of method on the spec's path template: the
// status must be documented for the operation, the body must match its
// schema, and documented headers must be present.
func (s *spec) check(method, path string, status int, header map[string][]string, body []byte) error {
	paths := s.doc["paths"].(map[string]any)
	item := s.resolve(paths[path])
	if item == nil {
		return fmt.Errorf("%s is not in openapi.yaml", path)
	}
	op := s.resolve(item[strings.ToLower(method)])
	if op == nil {
		return fmt.Errorf("%s %s is not in openapi.yaml", method, path)
	}
	s.seen[method+" "+path] = true
	resp := s.resolve(s.resolve(op["responses"])[fmt.Sprint(status)])
	if resp == nil {
		return fmt.Errorf("%s %s: status %d is not documented", method, path, status)
	}
	for name := range s.resolve(resp["headers"]) {
		if len(header[name]) == 0 {
			return fmt.Errorf("%s %s %d: header %s missing", method, path, status, name)
		}
	}
	content := s.resolve(s.resolve(resp["content"])["application/json"])
	if content == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("%s %s %d: body is not JSON: %w", method, path, status, err)
	}
	return s.validate(content["schema"], v, "body")
}

var dateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func (s *spec) validate(schemaV any, v any, where string) error {
	sc := s.resolve(schemaV)
	if sc == nil {
		return nil
	}
	if enum, ok := sc["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: %v is not one of %v", where, v, enum)
		}
	}
	switch sc["type"] {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %T", where, v)
		}
		props := s.resolve(sc["properties"])
		for _, r := range asList(sc["required"]) {
			if _, ok := m[r]; !ok {
				return fmt.Errorf("%s: required %q missing", where, r)
			}
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p, ok := props[k]
			if !ok {
				if sc["additionalProperties"] == false {
					return fmt.Errorf("%s: property %q is not documented", where, k)
				}
				continue
			}
			if err := s.validate(p, m[k], where+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %T", where, v)
		}
		for i, e := range a {
			if err := s.validate(sc["items"], e, fmt.Sprintf("%s[%d]", where, i)); err != nil {
				return err
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string, got %T", where, v)
		}
		if p, ok := sc["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", where, str, p)
		}
		switch sc["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", where, str)
			}
		case "date":
			if !dateRe.MatchString(str) {
				return fmt.Errorf("%s: %q is not a date", where, str)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s: want an integer, got %v", where, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %T", where, v)
		}
	}
	return nil
}

func asList(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, e := range l {
			out = append(out, fmt.Sprint(e))
		}
	}
	return out
}

// operations lists every "METHOD path" of the spec.
func (s *spec) operations() []string {
	var out []string
	for p, item := range s.doc["paths"].(map[string]any) {
		for m := range item.(map[string]any) {
			out = append(out, strings.ToUpper(m)+" "+p)
		}
	}
	sort.Strings(out)
	return out
}

// TestSpecCheckerRejects: the checker itself fails on what it must.
func TestSpecCheckerRejects(t *testing.T) {
	s := loadSpec(t)
	for body, want := range map[string]string{
		`{"key_id":"k"}`:                        `body: required "admin" missing`,
		`{"key_id":"k","admin":"yes"}`:          `body.admin: want a boolean, got string`,
		`{"key_id":"k","admin":true,"extra":1}`: `body: property "extra" is not documented`,
		`{"key_id":7,"admin":true}`:             `body.key_id: want a string, got float64`,
		`{"error":"teapot"}`:                    `body.error: teapot is not one of [unauthorized forbidden not_found bad_request rate_limited internal]`,
		`{"tenant":"a","grants":[{"id":"x"}]}`:  `body.grants[0]: required "tenant" missing`,
		`{"tenant":"a","from":"2026-1-1","to":"2026-02-01","group_by":[],"rows":[]}`: `body.from: "2026-1-1" is not a date`,
	} {
		path, status := "/v1/me", 200
		switch {
		case strings.Contains(body, "teapot"):
			status = 401
		case strings.Contains(body, "grants"):
			path = "/v1/tenants/{tenant}/grants"
		case strings.Contains(body, "rows"):
			path = "/v1/tenants/{tenant}/usage"
		}
		require.EqualError(t, s.check("GET", path, status, nil, []byte(body)), want)
	}
	require.EqualError(t, s.check("GET", "/v1/me", 418, nil, []byte(`{}`)), "GET /v1/me: status 418 is not documented")
	require.EqualError(t, s.check("GET", "/v1/me", 429, nil, []byte(`{"error":"rate_limited"}`)), "GET /v1/me 429: header Retry-After missing")
	require.EqualError(t, s.check("DELETE", "/v1/me", 200, nil, nil), "DELETE /v1/me is not in openapi.yaml")
}
