package pricing

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// Seeds: testdata/fuzz/FuzzParse{GenAIPrices,LiteLLM,Native}, the catalogs
// of testdata/ and config/prices and single providers of the embedded
// genai-prices snapshot.

func FuzzParseGenAIPrices(f *testing.F) { fuzzParse(f, FormatGenAIPrices) }
func FuzzParseLiteLLM(f *testing.F)     { fuzzParse(f, FormatLiteLLM) }
func FuzzParseNative(f *testing.F)      { fuzzParse(f, FormatNative) }

// fuzzParse: Parse must not panic; it refuses a file exactly when it reports
// an error (not only warnings), every problem is located inside the file,
// and a catalog it loads prices every name found in the file without
// panicking, with a known status, a reference for each price and never a
// negative cost.
func fuzzParse(f *testing.F, format string) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, probs, err := Parse(format, data, "fuzz")
		hasErr := false
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, p := range probs {
			if !p.Warning {
				hasErr = true
			}
			if p.Line < 0 || p.Line > lines || (p.Line > 0 && p.Column < 1) {
				t.Fatalf("problem %q at %d:%d, outside the %d lines", p.Message, p.Line, p.Column, lines)
			}
		}
		if (err != nil) != hasErr {
			t.Fatalf("err %v, but errors among the problems: %v (%v)", err, hasErr, probs)
		}
		if err != nil {
			if c != nil {
				t.Fatalf("a refused catalog is returned")
			}
			return
		}
		if c == nil {
			t.Fatalf("no catalog and no error")
		}
		b, err := NewBook([]*Catalog{c}, BookOptions{})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
		for _, name := range namesIn(format, data) {
			for _, provider := range []string{"", "openai", name} {
				q := &Query{Provider: provider, ResponseModel: name, At: at}
				for k, n := range map[string]int64{"input_tokens": 1_000_000, "cache_read_tokens": 1000, "output_tokens": 5000} {
					if err := q.Usage.Set(k, n); err != nil {
						t.Fatal(err)
					}
				}
				var r Result
				b.Price(q, &r)
				switch r.Status {
				case Priced:
					if r.Cost.Negative || r.Ref == "" || r.ProviderID == "" || r.ModelID == "" {
						t.Fatalf("%q/%q priced %s, ref %q, provider %q, model %q", provider, name, r.Cost.String(), r.Ref, r.ProviderID, r.ModelID)
					}
				case UnknownModel, InvalidUsage:
					if r.Detail == "" {
						t.Fatalf("%q/%q: %v without a detail", provider, name, r.Status)
					}
				default:
					t.Fatalf("%q/%q: status %v", provider, name, r.Status)
				}
			}
		}
	})
}

// namesIn collects up to 12 strings of the document (keys and values): the
// model names and match rules are among them.
func namesIn(format string, data []byte) []string {
	var doc any
	if format == FormatNative {
		if yaml.Unmarshal(data, &doc) != nil {
			return nil
		}
	} else if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(any)
	walk = func(v any) {
		if len(out) >= 12 {
			return
		}
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case map[string]any:
			for k, e := range x {
				out = append(out, k)
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if len(out) > 12 {
		out = out[:12]
	}
	return out
}
