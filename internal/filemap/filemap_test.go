package filemap

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// write replaces the file's content and gives it a distinct modification
// time, so that a change is seen even when the content has the same size and
// the file system's clock is coarse.
func write(t *testing.T, path, content string, mtime time.Time) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	require.NoError(t, os.Chtimes(path, mtime, mtime))
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	got, err := Parse([]byte("# tenant: plan\nacme: enterprise\nglobex: pro\n'007': 0012\nyes: true\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"acme": "enterprise", "globex": "pro", "007": "0012", "yes": "true"}, got)

	got, err = Parse([]byte("{}\n"))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{}, got)
}

func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct{ in, want string }{
		"empty":        {"", "file is empty (write {} for an empty map)"},
		"blank":        {"  \n\n", "file is empty (write {} for an empty map)"},
		"comment only": {"# nothing\n", "file has no content (write {} for an empty map)"},
		"list":         {"- acme\n- globex\n", "line 1: want a mapping of keys to values, got a list"},
		"scalar":       {"acme\n", `line 1: want a mapping of keys to values, got "acme"`},
		"null value":   {"acme: pro\nglobex:\n", `line 2: value of "globex" must be a non-empty string, got nothing`},
		"empty value":  {"acme: ''\n", `line 1: value of "acme" must be a non-empty string, got nothing`},
		"list value":   {"acme: [pro]\n", `line 1: value of "acme" must be a non-empty string, got a list`},
		"map value":    {"acme:\n  plan: pro\n", `line 2: value of "acme" must be a non-empty string, got a mapping`},
		"null key":     {"~: pro\n", "line 1: key must be a non-empty string, got nothing"},
		"duplicate":    {"acme: pro\nglobex: free\nacme: free\n", `line 3: key "acme" given twice`},
		"syntax":       {"acme: [pro\n", "yaml: line 1: did not find expected ',' or ']'"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
		})
	}
}

func TestStartFailsWithPathAndReason(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	_, err := Start(missing, Options{})
	require.Error(t, err)
	assert.Equal(t, missing+": stat "+missing+": no such file or directory", err.Error())
	assert.True(t, errors.Is(err, os.ErrNotExist))

	bad := filepath.Join(dir, "bad.yaml")
	write(t, bad, "acme: pro\nacme: free\n", t0)
	_, err = Start(bad, Options{})
	require.Error(t, err)
	assert.Equal(t, bad+`: line 2: key "acme" given twice`, err.Error())

	_, err = Start(dir, Options{})
	require.Error(t, err)
	assert.Equal(t, dir+": is a directory, not a file", err.Error())
}

// recorder collects the callbacks of a Map.
type recorder struct {
	mu      sync.Mutex
	reloads []int
	errs    []string
}

func (r *recorder) options(interval time.Duration) Options {
	return Options{
		Interval: interval,
		OnReload: func(n int) { r.mu.Lock(); r.reloads = append(r.reloads, n); r.mu.Unlock() },
		OnError:  func(err error) { r.mu.Lock(); r.errs = append(r.errs, err.Error()); r.mu.Unlock() },
	}
}

func (r *recorder) snapshot() ([]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.reloads...), append([]string(nil), r.errs...)
}

// TestCheckReloadsAndKeepsLastGood walks a file through a good rewrite, a
// broken rewrite (last good map kept, reported once), a repair, a deletion and
// a restore, calling Check directly so that no timing is involved.
func TestCheckReloadsAndKeepsLastGood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.yaml")
	write(t, path, "acme: pro\n", t0)
	var rec recorder
	m, err := Start(path, rec.options(0))
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	lookup := func(k string) string { v, _ := m.Lookup(k); return v }

	assert.Equal(t, "pro", lookup("acme"))
	assert.Equal(t, 1, m.Len())
	assert.Equal(t, path, m.Path())

	changed, err := m.Check()
	require.NoError(t, err)
	assert.False(t, changed, "unchanged file")

	// Same size, new content: the modification time gives it away.
	write(t, path, "acme: ent\n", t0.Add(time.Second))
	changed, err = m.Check()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "ent", lookup("acme"))

	write(t, path, "acme: ent\nglobex: [\n", t0.Add(2*time.Second))
	changed, err = m.Check()
	assert.False(t, changed)
	require.Error(t, err)
	assert.Equal(t, path+": yaml: line 2: did not find expected node content", err.Error())
	assert.Equal(t, "ent", lookup("acme"), "last good map kept")
	_, ok := m.Lookup("globex")
	assert.False(t, ok)
	changed, err = m.Check()
	assert.False(t, changed)
	assert.NoError(t, err, "a broken file is reported once, not at every check")

	write(t, path, "acme: ent\nglobex: free\n", t0.Add(3*time.Second))
	changed, err = m.Check()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "free", lookup("globex"))

	require.NoError(t, os.Remove(path))
	changed, err = m.Check()
	assert.False(t, changed)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Equal(t, "free", lookup("globex"), "last good map kept")
	_, err = m.Check()
	assert.NoError(t, err, "a missing file is reported once")

	write(t, path, "acme: pro\n", t0.Add(4*time.Second))
	changed, err = m.Check()
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, "pro", lookup("acme"))
	_, ok = m.Lookup("globex")
	assert.False(t, ok)

	reloads, errs := rec.snapshot()
	assert.Equal(t, []int{1, 2, 1}, reloads)
	require.Len(t, errs, 2)
	assert.Equal(t, path+": yaml: line 2: did not find expected node content", errs[0])
	assert.Equal(t, path+": stat "+path+": no such file or directory", errs[1])
}

// TestBackgroundReload checks that the loop started by Start picks up a
// rewritten file by itself, and that Stop ends it (goleak-free) and is
// idempotent.
func TestBackgroundReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.yaml")
	write(t, path, "acme: pro\n", t0)
	var rec recorder
	m, err := Start(path, rec.options(5*time.Millisecond))
	require.NoError(t, err)
	write(t, path, "acme: enterprise\n", t0.Add(time.Second))
	require.Eventually(t, func() bool { v, _ := m.Lookup("acme"); return v == "enterprise" }, 10*time.Second, 5*time.Millisecond)
	m.Stop()
	m.Stop()
	reloads, errs := rec.snapshot()
	assert.Equal(t, []int{1}, reloads)
	assert.Empty(t, errs)

	var nilMap *Map
	nilMap.Stop()
}

// TestConcurrentReadersDuringReloads runs lookups against reloads under the
// race detector: every read sees one whole version of the map.
func TestConcurrentReadersDuringReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "plans.yaml")
	write(t, path, "a: v0\nb: v0\n", t0)
	m, err := Start(path, Options{})
	require.NoError(t, err)
	t.Cleanup(m.Stop)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				a, _ := m.Lookup("a")
				b, _ := m.Lookup("b")
				// a and b come from two loads, so they may differ across a
				// swap; each must be a value some version of the file had.
				assert.Regexp(t, `^v\d+$`, a)
				assert.Regexp(t, `^v\d+$`, b)
			}
		}()
	}
	for i := 1; i <= 50; i++ {
		v := "v" + string(rune('0'+i%10))
		write(t, path, "a: "+v+"\nb: "+v+"\n", t0.Add(time.Duration(i)*time.Second))
		changed, err := m.Check()
		require.NoError(t, err)
		require.True(t, changed)
	}
	close(stop)
	wg.Wait()
	v, _ := m.Lookup("a")
	assert.Equal(t, "v0", v)
}

func BenchmarkLookup(b *testing.B) {
	path := filepath.Join(b.TempDir(), "plans.yaml")
	require.NoError(b, os.WriteFile(path, []byte("acme: enterprise\nglobex: pro\ninitech: free\n"), 0o600))
	m, err := Start(path, Options{})
	require.NoError(b, err)
	defer m.Stop()
	b.ReportAllocs()
	for b.Loop() {
		if v, _ := m.Lookup("globex"); v != "pro" {
			b.Fatal(v)
		}
	}
}
