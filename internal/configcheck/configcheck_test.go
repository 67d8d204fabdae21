package configcheck

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWritableFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		file:                                     "",
		filepath.Join(dir, "new", "deeper", "x"): "",
		filepath.Join(file, "x"):                 file + "/x: cannot create x: " + file + " is not a directory",
		filepath.Join(file, "y", "x"):            file + "/y/x: cannot create x: " + file + " is not a directory",
		dir:                                      dir + ": not a regular file",
		"":                                       "must not be empty",
	} {
		got := ""
		if err := WritableFile(path); err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("WritableFile(%q) = %q, want %q", path, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the check created a directory: %v", err)
	}
}

func TestProblemsPrefixed(t *testing.T) {
	var ps Problems
	ps.Add("a.b", errors.New("bad"))
	ps.Add("c", nil)
	ps.Add("", errors.New("whole"))
	got := ps.Prefixed("exporters.x")
	if len(got) != 2 || got[0].String() != "exporters.x.a.b: bad" || got[1].String() != "exporters.x: whole" {
		t.Fatalf("%v", got)
	}
}
