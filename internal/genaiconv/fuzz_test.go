package genaiconv

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// attrsFromJSON builds a span's attributes from a JSON object: integral
// numbers become ints (token counts are ints on real spans), others doubles;
// arrays and objects become slices and maps. reverse inserts the keys in the
// opposite order.
func attrsFromJSON(data []byte, m pcommon.Map, reverse bool) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var keys []string
	vals := map[string]json.RawMessage{}
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return false
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return false
		}
		ks := k.(string)
		if _, dup := vals[ks]; !dup {
			keys = append(keys, ks)
		}
		vals[ks] = raw
	}
	if reverse {
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
	}
	for _, k := range keys {
		if !putJSON(m.PutEmpty(k), vals[k]) {
			return false
		}
	}
	return true
}

func putJSON(v pcommon.Value, raw json.RawMessage) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return false
	}
	setValue(v, x)
	return true
}

func setValue(v pcommon.Value, x any) {
	switch t := x.(type) {
	case string:
		v.SetStr(t)
	case bool:
		v.SetBool(t)
	case json.Number:
		if i, err := t.Int64(); err == nil {
			v.SetInt(i)
		} else if f, err := t.Float64(); err == nil {
			v.SetDouble(f)
		} else {
			v.SetStr(t.String())
		}
	case []any:
		s := v.SetEmptySlice()
		for _, e := range t {
			setValue(s.AppendEmpty(), e)
		}
	case map[string]any:
		m := v.SetEmptyMap()
		for k, e := range t {
			setValue(m.PutEmpty(k), e)
		}
	}
}

// FuzzExtract reads random attribute maps as a span of a random
// instrumentation scope. Extract must not panic, and what it returns must
// keep its contract: a known Kind; an error only for an inference span, and
// then a *MalformedError; for a call (inference or wrapper), counts >= 0 in the semconv meaning
// (cache reads + writes <= input, reasoning <= output), a token convention
// exactly when usage was reported, no counts without Reported; and the same
// result whatever the order of the attributes (rank decides, not order);
// and the result of the reference (reference_test.go), Extract before it was
// made cheap.
func FuzzExtract(f *testing.F) {
	// Seeds (testdata/fuzz/FuzzExtract): every span of the real
	// instrumentation captures in testdata/realclients, with its scope.
	f.Add("", "", "chat", []byte(`{"gen_ai.operation.name":"chat","gen_ai.usage.input_tokens":-1}`))
	f.Fuzz(func(t *testing.T, scopeName, scopeVersion, spanName string, attrs []byte) {
		spans := [2]ptrace.Span{ptrace.NewSpan(), ptrace.NewSpan()}
		for i := range spans {
			spans[i].SetName(spanName)
			if !attrsFromJSON(attrs, spans[i].Attributes(), i == 1) {
				return
			}
		}
		scope := Scope{Name: scopeName, Version: scopeVersion}
		checkReference(t, spans[0], scope, nil)
		checkReference(t, spans[1], scope, nil)
		call, kind, err := Extract(spans[0], scope, nil)
		switch kind {
		case NotGenAI, Aggregate:
			if err != nil || call != (Call{}) {
				t.Fatalf("%v with err %v, call %+v", kind, err, call)
			}
		case Inference:
			if err != nil {
				var me *MalformedError
				if !errors.As(err, &me) {
					t.Fatalf("error %T %v, want *MalformedError", err, err)
				}
				break
			}
			checkUsage(t, call)
			u := call.Usage
			if u.InputAudio > u.Input || u.OutputAudio > u.Output || u.CacheWrite1h > u.CacheWrite {
				t.Fatalf("a part above its total: %+v", u)
			}
		case Wrapper:
			// Metered only when its model-call child never arrives: a
			// malformed count reads as no usage, never an error.
			if err != nil {
				t.Fatalf("Wrapper with err %v", err)
			}
			checkUsage(t, call)
		default:
			t.Fatalf("unknown kind %v", kind)
		}
		call2, kind2, err2 := Extract(spans[1], scope, nil)
		if kind2 != kind || !reflect.DeepEqual(call2, call) || (err == nil) != (err2 == nil) {
			t.Fatalf("attribute order changed the result:\n%v %+v %v\n%v %+v %v", kind, call, err, kind2, call2, err2)
		}
	})
}

func checkUsage(t *testing.T, c Call) {
	t.Helper()
	u := c.Usage
	for name, n := range map[string]int64{"input": u.Input, "output": u.Output, "cache_read": u.CacheRead, "cache_write": u.CacheWrite,
		"reasoning": u.Reasoning, "input_audio": u.InputAudio, "output_audio": u.OutputAudio, "cache_write_1h": u.CacheWrite1h} {
		if n < 0 {
			t.Fatalf("%s = %d < 0: %+v", name, n, c)
		}
		if n != 0 && !u.Reported {
			t.Fatalf("%s = %d without Reported: %+v", name, n, c)
		}
	}
	if !u.Reported {
		if c.TokenConvention != "" || c.OutputConvention != "" {
			t.Fatalf("token convention without usage: %+v", c)
		}
		return
	}
	if c.TokenConvention == "" || c.OutputConvention == "" {
		t.Fatalf("usage without a token convention: %+v", c)
	}
	if u.CacheRead+u.CacheWrite > u.Input {
		t.Fatalf("cache %d + %d > input %d (semconv totals): %+v", u.CacheRead, u.CacheWrite, u.Input, c)
	}
	if u.Reasoning > u.Output {
		t.Fatalf("reasoning %d > output %d: %+v", u.Reasoning, u.Output, c)
	}
}
