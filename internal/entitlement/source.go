package entitlement

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Source keeps the plans of a file and reloads it when it changes, like the
// tenant maps of package filemap: a changed file that fails to parse or
// validate keeps the last good plans and is reported once through OnError.
type Source struct {
	path    string
	onError func(error)
	cur     atomic.Pointer[Plans]

	mu   sync.Mutex
	seen fileStamp

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

type fileStamp struct {
	mtime time.Time
	size  int64
	err   string
}

// Load reads and validates a plans file once. Errors are "path:line:column: key: reason".
func Load(path string) (*Plans, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ps, err := Parse(data)
	if err != nil {
		lines := strings.Split(err.Error(), "\n")
		for i, l := range lines {
			lines[i] = path + ":" + l
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	return ps, nil
}

// OpenSource loads path and, with interval > 0, checks it for changes until
// Stop. A missing or invalid file at start is an error.
func OpenSource(path string, interval time.Duration, onError func(error)) (*Source, error) {
	s := &Source{path: path, onError: onError, stop: make(chan struct{}), done: make(chan struct{})}
	st := stampOf(path)
	ps, err := Load(path)
	if err != nil {
		return nil, err
	}
	s.cur.Store(ps)
	s.seen = st
	if interval > 0 {
		go s.poll(interval)
	} else {
		close(s.done)
	}
	return s, nil
}

// StaticSource serves fixed plans (tests, tools).
func StaticSource(ps *Plans) *Source {
	s := &Source{stop: make(chan struct{}), done: make(chan struct{})}
	close(s.done)
	s.cur.Store(ps)
	return s
}

// Plans returns the current plans.
func (s *Source) Plans() *Plans { return s.cur.Load() }

// Check reloads the file if it changed since last read and reports whether
// the plans were replaced.
func (s *Source) Check() (bool, error) {
	if s.path == "" {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := stampOf(s.path)
	if st == s.seen {
		return false, nil
	}
	ps, err := Load(s.path)
	if stampOf(s.path) != st {
		return false, nil // written while read: read it again next time
	}
	s.seen = st
	if err != nil {
		if s.onError != nil {
			s.onError(err)
		}
		return false, err
	}
	s.cur.Store(ps)
	return true, nil
}

func (s *Source) poll(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_, _ = s.Check()
		}
	}
}

// Stop ends the background checks. Nil-safe and idempotent.
func (s *Source) Stop() {
	if s == nil {
		return
	}
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{err: err.Error()}
	}
	if fi.IsDir() {
		return fileStamp{err: fmt.Sprintf("%s is a directory", path)}
	}
	return fileStamp{mtime: fi.ModTime(), size: fi.Size()}
}
