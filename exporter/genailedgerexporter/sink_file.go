package genailedgerexporter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/genaimeter/genaimeter/internal/durable"
	"github.com/genaimeter/genaimeter/internal/store/usagejson"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// fileSink appends one JSON line per record (internal/store/usagejson) to
// file.path, and rotates it by size and age. A batch is written with one
// write and made durable with one fsync before Write returns, so that an
// acknowledged batch survives a crash; a batch cut short by a crash is
// written again by the retry (consumers deduplicate on event_id).
type fileSink struct {
	cfg *FileConfig
	now func() time.Time

	// mu serialises the queue's concurrent consumers: lines of two batches
	// must not interleave.
	mu     sync.Mutex
	f      *os.File
	size   int64
	opened time.Time
	buf    []byte
}

func (s *fileSink) Start(context.Context, component.Host) error {
	if s.now == nil {
		s.now = time.Now
	}
	return s.open()
}

func (s *fileSink) open() error {
	if err := os.MkdirAll(filepath.Dir(s.cfg.Path), 0o750); err != nil {
		return fmt.Errorf("file: create directory of %q: %w", s.cfg.Path, err)
	}
	// 0600: usage records are customer data, as private as the queue's
	// files (an existing file keeps its mode).
	f, err := os.OpenFile(s.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("file: %w", err)
	}
	// The directory entries (a new file, a rotation's rename) must be
	// durable too: records synced into a file that a power loss unlinks
	// again would be lost after their batch was acknowledged.
	if err := durable.SyncDir(filepath.Dir(s.cfg.Path)); err != nil {
		_ = f.Close()
		return fmt.Errorf("file: sync directory of %q: %w", s.cfg.Path, err)
	}
	s.f, s.size = f, st.Size()
	// An existing file's age counts from now: its creation time is not
	// portable, and rotating it at once after a restart would make tiny files.
	s.opened = s.now()
	return nil
}

// rotatedName is where the current file goes at time t: the rotation time
// before the extension, so that rotated files sort in time order, and a
// counter if that name is taken (two rotations in one clock tick), so that a
// rotated file is never overwritten.
func rotatedName(path string, t time.Time) string {
	ext := filepath.Ext(path)
	base := strings.TrimSuffix(path, ext) + "-" + t.UTC().Format("20060102T150405.000000000Z")
	name := base + ext
	for i := 1; ; i++ {
		if _, err := os.Lstat(name); os.IsNotExist(err) {
			return name
		}
		name = fmt.Sprintf("%s-%d%s", base, i, ext)
	}
}

func (s *fileSink) rotate() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("file: close for rotation: %w", err)
	}
	s.f = nil
	if err := os.Rename(s.cfg.Path, rotatedName(s.cfg.Path, s.now())); err != nil {
		return fmt.Errorf("file: rotate: %w", err)
	}
	return s.open()
}

func (s *fileSink) Write(_ context.Context, recs []usage.Record) (writeResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		// A failed rotation left no file open: try again.
		if err := s.open(); err != nil {
			return writeResult{}, err
		}
	}
	s.buf = s.buf[:0]
	for i := range recs {
		s.buf = usagejson.Append(s.buf, &recs[i])
		s.buf = append(s.buf, '\n')
	}
	maxSize := int64(s.cfg.MaxSizeMiB) << 20
	tooBig := maxSize > 0 && s.size > 0 && s.size+int64(len(s.buf)) > maxSize
	tooOld := s.cfg.MaxAge > 0 && s.now().Sub(s.opened) >= s.cfg.MaxAge
	if (tooBig || tooOld) && s.size > 0 {
		if err := s.rotate(); err != nil {
			return writeResult{}, err
		}
	}
	if _, err := s.f.Write(s.buf); err != nil {
		// Cut a partly written batch off (best effort), so that the retry
		// does not follow a torn line.
		_ = s.f.Truncate(s.size)
		return writeResult{}, fmt.Errorf("file: write: %w", err)
	}
	s.size += int64(len(s.buf))
	if err := s.f.Sync(); err != nil {
		return writeResult{}, fmt.Errorf("file: sync: %w", err)
	}
	return writeResult{Written: len(recs)}, nil
}

func (s *fileSink) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
