// Package deadletter is the append-only JSON-lines file where exporters put
// what they could not deliver, with the reason, so that nothing refused is
// dropped silently: an operator can inspect, fix and replay each line.
package deadletter

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/genaimeter/genaimeter/internal/durable"
)

// File appends lines and syncs them to disk before Append returns, so that an
// exporter acknowledges a batch only once its dead letters are durable. It is
// safe for concurrent use.
type File struct {
	path string

	mu sync.Mutex
	f  *os.File
}

// Open creates the file's directory if needed and opens the file for appending.
func Open(path string) (*File, error) {
	d := &File{path: path}
	if err := d.open(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *File) open() error {
	if err := os.MkdirAll(filepath.Dir(d.path), 0o750); err != nil {
		return fmt.Errorf("dead_letter: create directory of %q: %w", d.path, err)
	}
	// 0600: usage records are customer data, as private as the queue's
	// files (an existing file keeps its mode).
	f, err := os.OpenFile(d.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("dead_letter: %w", err)
	}
	// The file's directory entry must be durable too: lines synced into a
	// file that a power loss unlinks again are lost all the same.
	if err := durable.SyncDir(filepath.Dir(d.path)); err != nil {
		_ = f.Close()
		return fmt.Errorf("dead_letter: sync directory of %q: %w", d.path, err)
	}
	d.f = f
	return nil
}

// Append writes lines (each ending in a newline) and syncs them. After Close
// it reopens the file, so a restarted exporter keeps appending.
func (d *File) Append(lines []byte) error {
	if len(lines) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		if err := d.open(); err != nil {
			return err
		}
	}
	if _, err := d.f.Write(lines); err != nil {
		return fmt.Errorf("dead_letter: write: %w", err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("dead_letter: sync: %w", err)
	}
	return nil
}

// Close closes the file; it is safe on nil and when called twice.
func (d *File) Close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	err := d.f.Close()
	d.f = nil
	return err
}
