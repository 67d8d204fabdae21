// Package configcheck holds the checks of a collector configuration that
// Validate must not make: Validate is pure (no files, no network), so a
// configuration naming a missing price file, a malformed customers map or an
// undeclared storage extension passes `validate` and fails at start. These
// checks read the files and look across components, offline, for
// `genaimeter check-config`; each problem names the configuration key it is
// about.
package configcheck // import "github.com/genaimeter/genaimeter/internal/configcheck"

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Problem is one thing that would fail the collector at start (or make it do
// something else than asked), with the configuration key it is about.
type Problem struct {
	// Key is the dotted path of the key, relative to what was checked:
	// "pricing.sources[0].path" within a component, prefixed with
	// "processors.genai_cost." by the caller.
	Key string
	Err error
}

func (p Problem) String() string { return p.Key + ": " + p.Err.Error() }

// Problems collects problems.
type Problems []Problem

// Add records err under key; a nil err is nothing.
func (ps *Problems) Add(key string, err error) {
	if err != nil {
		*ps = append(*ps, Problem{Key: key, Err: err})
	}
}

// Prefixed returns the problems with prefix + "." before each key.
func (ps Problems) Prefixed(prefix string) Problems {
	out := make(Problems, len(ps))
	for i, p := range ps {
		out[i] = Problem{Key: prefix + "." + p.Key, Err: p.Err}
		if p.Key == "" {
			out[i].Key = prefix
		}
	}
	return out
}

// WritableFile checks, without creating anything, that the collector could
// open path for writing, creating it and its missing directories: the file,
// if it exists, must be a writable regular file; otherwise its nearest
// existing ancestor must be a writable directory.
func WritableFile(path string) error {
	if path == "" {
		return errors.New("must not be empty")
	}
	st, err := os.Stat(path)
	switch {
	case err == nil:
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		if err := unix.Access(path, unix.W_OK); err != nil {
			return fmt.Errorf("%s: not writable: %w", path, err)
		}
		return nil
	case !missing(err):
		return err
	}
	dir := filepath.Dir(filepath.Clean(path))
	for {
		st, err := os.Stat(dir)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("%s: cannot create %s: %s is not a directory", path, filepath.Base(path), dir)
			}
			if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("%s: cannot be created: directory %s is not writable: %w", path, dir, err)
			}
			return nil
		}
		if !missing(err) {
			return err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return err
		}
		dir = parent
	}
}

// missing: the path does not exist, or one of its parents is a file.
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR)
}
