package filemap

import (
	"maps"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzParse: Parse must not panic; a map it accepts has non-empty keys and
// values, and written back as YAML it parses to the same map (what the
// operator reads in the file is what is used). Seeds
// (testdata/fuzz/FuzzParse): config/tenants' plans and customers maps.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"{}", "acme: enterprise\nglobex: pro\n", "id: 0012\n", "a: &x b\nc: *x\n", "? [a]\n: b\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			if m != nil {
				t.Fatalf("a map with the error %v", err)
			}
			return
		}
		for k, v := range m {
			if k == "" || v == "" {
				t.Fatalf("empty key or value: %q: %q", k, v)
			}
		}
		out, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(out)
		if len(m) == 0 {
			// yaml.Marshal writes an empty map as "{}\n".
			if err != nil || len(back) != 0 {
				t.Fatalf("empty map written as %q reads %v, %v", out, back, err)
			}
			return
		}
		if err != nil || !maps.Equal(back, m) {
			t.Fatalf("%q → %v\nwritten %q → %v, %v", data, m, out, back, err)
		}
	})
}
