package genaiconv

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// readmeRow is one row of README.md's built-in convention table.
type readmeRow struct {
	Scope, Versions, Provider, Input, Output, Streams string
}

// readmeTable returns the rows of the table under "### Built-in table" and
// the source tags of each row.
func readmeTable(t *testing.T, readme string) ([]readmeRow, [][]string) {
	t.Helper()
	i := strings.Index(readme, "### Built-in table")
	if i < 0 {
		t.Fatal(`README.md has no "### Built-in table" section`)
	}
	var rows []readmeRow
	var sources [][]string
	inTable := false
	for _, line := range strings.Split(readme[i:], "\n") {
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(cells[j])
		}
		if len(cells) != 7 {
			t.Fatalf("table row with %d cells, want 7: %s", len(cells), line)
		}
		if cells[0] == "Emitter (scope prefix)" || strings.HasPrefix(cells[0], "---") {
			continue
		}
		clean := func(s string) string {
			s = strings.Trim(s, "`*")
			if s == "—" {
				return ""
			}
			return s
		}
		rows = append(rows, readmeRow{clean(cells[0]), cells[1], clean(cells[2]), clean(cells[3]), clean(cells[4]), clean(cells[5])})
		sources = append(sources, refTag.FindAllString(cells[6], -1))
	}
	return rows, sources
}

var refTag = regexp.MustCompile(`\[[a-z0-9-]+\]`)

// TestREADMEConventionTable checks that README.md's built-in table says what
// the Go table (builtin, which is authoritative) says, row for row, that every
// row names a source and that every source tag is defined in its References.
func TestREADMEConventionTable(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	rows, sources := readmeTable(t, readme)

	want := make([]readmeRow, len(builtin))
	for i, r := range builtin {
		w := readmeRow{Scope: r.ScopePrefix, Versions: "any", Provider: r.Provider, Input: string(r.Input),
			Output: string(r.Output), Streams: r.Stream.String()}
		if r.VersionBelow != "" {
			w.Versions = "< " + r.VersionBelow
		}
		if w.Provider == "" {
			w.Provider = "any"
		}
		want[i] = w
	}
	if len(rows) != len(want) {
		t.Errorf("README.md's table has %d rows, the Go table %d", len(rows), len(want))
	}
	for i := 0; i < len(rows) && i < len(want); i++ {
		if rows[i] != want[i] {
			t.Errorf("row %d:\nREADME %+v\nGo     %+v", i+1, rows[i], want[i])
		}
	}

	defined := map[string]bool{}
	for _, line := range strings.Split(readme, "\n") {
		if tag := refTag.FindString(line); tag != "" && strings.HasPrefix(line, "- "+tag+":") {
			defined[tag] = true
		}
	}
	for i, tags := range sources {
		if len(tags) == 0 {
			t.Errorf("row %d (%s) names no source", i+1, rows[i].Scope)
		}
	}
	for _, tag := range refTag.FindAllString(readme, -1) {
		if !defined[tag] {
			t.Errorf("README.md uses %s, which its References do not define", tag)
		}
	}
	for _, outside := range []string{"/work/", "../shared", "genai-spans.md"} {
		if strings.Contains(readme, outside) {
			t.Errorf("README.md points outside the repository (%q)", outside)
		}
	}
}

// TestStreamTraitsString pins the README spellings of the traits.
func TestStreamTraitsString(t *testing.T) {
	if got := (StartUsage | NoFinishIsStopped).String(); got != "start-usage, no-finish-is-stopped" {
		t.Errorf("got %q", got)
	}
	if got := StreamTraits(0).String(); got != "" {
		t.Errorf("got %q", got)
	}
}
