// Package filemap keeps a string → string map loaded from a YAML file and
// reloads it when the file changes: tenant → plan, tenant → customer id.
//
// The file is one YAML mapping of scalar keys to scalar values:
//
//	# tenant: plan
//	acme: enterprise
//	globex: pro
//
// The file is checked every interval (modification time and size; no file
// system notifications, which miss changes on network and container volumes)
// and a changed file replaces the map in one atomic swap, so readers see the
// old map or the new one, never a mix. A changed file that cannot be read or
// parsed keeps the last good map and is reported once through OnError.
package filemap // import "github.com/genaimeter/genaimeter/internal/filemap"

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
)

// Options configures a Map.
type Options struct {
	// Interval is how often the file is checked for changes. 0 disables
	// reloading: the map is loaded once.
	Interval time.Duration
	// OnReload, if set, is called after a changed file has been loaded and
	// swapped in, with the number of entries of the new map.
	OnReload func(entries int)
	// OnError, if set, is called when a changed file cannot be loaded; the last
	// good map stays in use. It is called once per change of the file, not at
	// every check.
	OnError func(err error)
}

// Map is a string → string map backed by a file. Its methods are safe for
// concurrent use. The zero value is not usable: call Start.
type Map struct {
	path string
	opts Options
	cur  atomic.Pointer[map[string]string]

	// mu serializes Check; seen is the state of the file at the last check
	// that read it to the end, successful or not.
	mu   sync.Mutex
	seen stamp

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

// stamp identifies a version of the file.
type stamp struct {
	missing bool
	mtime   time.Time
	size    int64
}

// Start loads the file and, when opts.Interval > 0, checks it for changes in
// the background until Stop. A missing or malformed file is an error naming
// the path and the reason.
func Start(path string, opts Options) (*Map, error) {
	m := &Map{path: path, opts: opts, stop: make(chan struct{}), done: make(chan struct{})}
	st, err := statFile(path)
	if err != nil {
		return nil, err
	}
	entries, err := Load(path)
	if err != nil {
		return nil, err
	}
	m.cur.Store(&entries)
	m.seen = st
	if opts.Interval > 0 {
		go m.poll(opts.Interval)
	} else {
		close(m.done)
	}
	return m, nil
}

// Lookup returns the value of key in the current map.
func (m *Map) Lookup(key string) (string, bool) {
	v, ok := (*m.cur.Load())[key]
	return v, ok
}

// Len is the number of entries of the current map.
func (m *Map) Len() int { return len(*m.cur.Load()) }

// Path is the file the map is loaded from.
func (m *Map) Path() string { return m.path }

// Check reloads the file now if it changed since it was last read, and
// reports whether the map was replaced. The background loop calls it at every
// interval; callers may call it to pick up a change at once.
func (m *Map) Check() (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	before, err := statFile(m.path)
	if before == m.seen {
		return false, nil // unchanged, or a failure already reported
	}
	if err != nil {
		m.seen = before
		return false, m.fail(err)
	}
	entries, err := Load(m.path)
	after, _ := statFile(m.path)
	if after != before {
		// The file changed while it was read (a writer truncates, then writes):
		// what was read may be torn. Leave seen alone so the next check reads
		// it again, once the writer is done.
		return false, nil
	}
	m.seen = before
	if err != nil {
		return false, m.fail(err)
	}
	m.cur.Store(&entries)
	if m.opts.OnReload != nil {
		m.opts.OnReload(len(entries))
	}
	return true, nil
}

func (m *Map) fail(err error) error {
	if m.opts.OnError != nil {
		m.opts.OnError(err)
	}
	return err
}

func (m *Map) poll(interval time.Duration) {
	defer close(m.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			_, _ = m.Check() // errors are reported through OnError
		}
	}
}

// Stop ends the background checks and waits for them to end. It is safe to
// call on a nil Map and more than once.
func (m *Map) Stop() {
	if m == nil {
		return
	}
	m.stopOnce.Do(func() { close(m.stop) })
	<-m.done
}

func statFile(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{missing: errors.Is(err, os.ErrNotExist)}, fmt.Errorf("%s: %w", path, err)
	}
	if fi.IsDir() {
		return stamp{}, fmt.Errorf("%s: is a directory, not a file", path)
	}
	return stamp{mtime: fi.ModTime(), size: fi.Size()}, nil
}

// Load reads and parses a map file once. Errors name the path and, for
// content errors, the line.
func Load(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Parse parses the content of a map file: one YAML mapping of non-empty
// scalar keys to non-empty scalar values, each key once. Values are taken as
// written (`id: 0012` is "0012"). An empty document is an error — it is more
// often a file caught half-written than a wish to empty the map; write `{}`
// for an empty map.
func Parse(data []byte) (map[string]string, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty (write {} for an empty map)")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("file has no content (write {} for an empty map)")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of keys to values, got %s", root.Line, kindName(root))
	}
	out := make(map[string]string, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" || k.Value == "" {
			return nil, fmt.Errorf("line %d: key must be a non-empty string, got %s", k.Line, kindName(k))
		}
		if v.Kind != yaml.ScalarNode || v.Tag == "!!null" || v.Value == "" {
			return nil, fmt.Errorf("line %d: value of %q must be a non-empty string, got %s", v.Line, k.Value, kindName(v))
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		out[k.Value] = v.Value
	}
	return out, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" || n.Value == "" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unknown node"
}
