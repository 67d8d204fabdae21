package genaiconv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Forms a reference of README.md's References section may take. Each names
// something that can be opened from this repository alone: a file of a
// public repository at a commit, a file of an npm package whose version the
// capture tools pin, or a capture in testdata/realclients.
var (
	refRepoFile = regexp.MustCompile("[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+ @[0-9a-f]{7,40}\\b[^`]*`[^`]+`")
	refNPM      = regexp.MustCompile("`(@?[a-z0-9._-]+(?:/[a-z0-9._-]+)?@[0-9]+\\.[0-9]+\\.[0-9]+)`")
	refCapture  = regexp.MustCompile("`([a-z0-9{},.-]+\\.otlp\\.jsonl)`")
	refFile     = regexp.MustCompile("`[^`@ ]+\\.(?:js|cjs|mjs|ts|py|java|yaml|json|md|mdx)`")
)

// docPages are the references that are documentation pages, not files: each
// quotes the sentence it relies on, so the claim can be checked without the
// page.
var docPages = map[string]bool{"[aws-tokenusage]": true}

// TestReferencesResolveInRepository: every source tag used in README.md or
// in a comment of this package's Go files is defined under References, and
// every definition names a repository file at a commit, an npm file of a
// version pinned in tools/realclients/*/package-lock.json (a version that was
// read but not installed must also name its source at a commit), or a
// capture that exists in testdata/realclients. Nothing points outside the repository.
func TestReferencesResolveInRepository(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i := strings.Index(readme, "\n## References\n")
	if i < 0 {
		t.Fatal("README.md has no References section")
	}
	defs := map[string]string{}
	for _, line := range strings.Split(readme[i:], "\n") {
		if tag := refTag.FindString(line); tag != "" && strings.HasPrefix(line, "- "+tag+":") {
			defs[tag] = strings.TrimPrefix(line, "- "+tag+":")
		}
	}

	used := map[string]string{} // tag → where
	for _, tag := range refTag.FindAllString(readme, -1) {
		used[tag] = "README.md"
	}
	goFiles, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range goFiles {
		if f == "references_test.go" {
			continue // its comments show the tag syntax
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(src), "\n") {
			if c := strings.Index(line, "//"); c >= 0 {
				for _, tag := range refTag.FindAllString(line[c:], -1) {
					used[tag] = f
				}
			}
		}
	}
	for tag, where := range used {
		if _, ok := defs[tag]; !ok {
			t.Errorf("%s uses %s, which README.md's References do not define", where, tag)
		}
	}

	pinned := pinnedNPM(t)
	for tag, def := range defs {
		if strings.Contains(def, "https://") && !docPages[tag] {
			t.Errorf("%s points at a web page: %s", tag, def)
		}
		repoFile := refRepoFile.MatchString(def)
		ok := repoFile || docPages[tag]
		for _, m := range refNPM.FindAllStringSubmatch(def, -1) {
			if !pinned[m[1]] && !repoFile {
				t.Errorf("%s names %s, which no tools/realclients/*/package-lock.json pins", tag, m[1])
				continue
			}
			ok = ok || refFile.MatchString(def)
		}
		for _, m := range refCapture.FindAllStringSubmatch(def, -1) {
			for _, name := range expandBraces(m[1]) {
				if _, err := os.Stat(filepath.Join("..", "..", "testdata", "realclients", name)); err != nil {
					t.Errorf("%s names a capture that is not in testdata/realclients: %v", tag, err)
				}
			}
			ok = true
		}
		if !ok {
			t.Errorf("%s names no repository file at a commit, pinned npm file or capture: %s", tag, def)
		}
	}
}

// pinnedNPM returns name@version of every package the capture tools install.
func pinnedNPM(t *testing.T) map[string]bool {
	locks, err := filepath.Glob(filepath.Join("..", "..", "tools", "realclients", "*", "package-lock.json"))
	if err != nil || len(locks) == 0 {
		t.Fatalf("no package-lock.json under tools/realclients: %v", err)
	}
	out := map[string]bool{}
	for _, l := range locks {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		var lock struct {
			Packages map[string]struct {
				Version string `json:"version"`
			} `json:"packages"`
		}
		if err := json.Unmarshal(b, &lock); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		for path, p := range lock.Packages {
			if j := strings.LastIndex(path, "node_modules/"); j >= 0 && p.Version != "" {
				out[path[j+len("node_modules/"):]+"@"+p.Version] = true
			}
		}
	}
	return out
}

// expandBraces expands one level of {a,b} alternatives: "x-{a,b}.y" is
// "x-a.y", "x-b.y".
func expandBraces(s string) []string {
	i, j := strings.Index(s, "{"), strings.Index(s, "}")
	if i < 0 || j < i {
		return []string{s}
	}
	var out []string
	for _, alt := range strings.Split(s[i+1:j], ",") {
		out = append(out, expandBraces(s[:i]+alt+s[j+1:])...)
	}
	return out
}
