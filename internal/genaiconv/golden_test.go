package genaiconv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

var update = flag.Bool("update", false, "rewrite testdata/realclients.golden.json")

const (
	fixtureGlob = "../../testdata/realclients/*.otlp.jsonl"
	goldenPath  = "testdata/realclients.golden.json"
)

type goldenSpan struct {
	File         string `json:"file"`
	Line         int    `json:"line"`
	Scope        string `json:"scope"`
	ScopeVersion string `json:"scope_version,omitempty"`
	Span         string `json:"span"`
	Kind         string `json:"kind"`
	Call         *Call  `json:"call,omitempty"`
	Error        string `json:"error,omitempty"`
}

// readFixtures decodes every export request of the real-client captures.
func readFixtures(t testing.TB) map[string][]ptrace.Traces {
	t.Helper()
	files, err := filepath.Glob(fixtureGlob)
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures at %s: %v", fixtureGlob, err)
	}
	out := map[string][]ptrace.Traces{}
	var u ptrace.JSONUnmarshaler
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
		for sc.Scan() {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			td, err := u.UnmarshalTraces(line)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[filepath.Base(f)] = append(out[filepath.Base(f)], td)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func extractFixtures(t *testing.T) []goldenSpan {
	var got []goldenSpan
	fixtures := readFixtures(t)
	files := make([]string, 0, len(fixtures))
	for f := range fixtures {
		files = append(files, f)
	}
	sortStrings(files)
	for _, f := range files {
		for line, td := range fixtures[f] {
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				sss := rss.At(i).ScopeSpans()
				for j := 0; j < sss.Len(); j++ {
					scope := ScopeOf(sss.At(j).Scope())
					spans := sss.At(j).Spans()
					for k := 0; k < spans.Len(); k++ {
						span := spans.At(k)
						call, kind, err := Extract(span, scope, nil)
						g := goldenSpan{File: f, Line: line + 1, Scope: scope.Name, ScopeVersion: scope.Version,
							Span: span.Name(), Kind: kind.String()}
						if err != nil {
							g.Error = err.Error()
						} else if kind == Inference {
							g.Call = &call
						}
						got = append(got, g)
					}
				}
			}
		}
	}
	return got
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// TestRealClientsGolden extracts every span of every real-client capture and
// compares kind and call with the reviewed golden file.
func TestRealClientsGolden(t *testing.T) {
	got, err := json.MarshalIndent(extractFixtures(t), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test -run TestRealClientsGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("extraction of the real-client captures differs from %s; got:\n%s", goldenPath, got)
	}
}
