package pricing

// Where catalogs come from, and keeping a book current with them: the one
// loader of the processor (pricing.sources) and the CLI (--prices).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// FetchTimeout bounds one HTTP fetch of a catalog.
	FetchTimeout = 30 * time.Second
	// MaxCatalogBytes bounds a fetched catalog (LiteLLM's map is ~1.5 MB).
	MaxCatalogBytes = 64 << 20
)

// fetchClient fetches every URL source; its timeout backs up the context's.
var fetchClient = &http.Client{Timeout: FetchTimeout}

// Source is one catalog's origin: a file, an http(s) URL, or the embedded
// genai-prices snapshot; RefreshInterval > 0 reloads it that often once a
// LiveBook is started.
type Source struct {
	Format          string // FormatGenAIPrices, FormatLiteLLM or FormatNative; ignored when Embedded
	Path            string
	URL             string
	Embedded        bool
	RefreshInterval time.Duration
}

// Name is how the catalog is named in price references and messages: its
// URL, else its path ("embedded:..." for the snapshot).
func (s Source) Name() string {
	switch {
	case s.Embedded:
		return Embedded().Source()
	case s.URL != "":
		return s.URL
	}
	return s.Path
}

// Load reads and parses the source. It returns the catalog and its warnings,
// or an error: the read or fetch failure, or the *ParseError listing every
// problem (then the problems are returned too).
func (s Source) Load(ctx context.Context) (*Catalog, []Problem, error) {
	if s.Embedded {
		return Embedded(), nil, nil
	}
	if !knownFormat(s.Format) {
		return nil, nil, fmt.Errorf("unsupported format %q (supported: %s)", s.Format, strings.Join(Formats(), ", "))
	}
	var data []byte
	var err error
	if s.URL != "" {
		data, err = fetch(ctx, s.URL)
	} else {
		data, err = os.ReadFile(s.Path)
	}
	if err != nil {
		return nil, nil, err
	}
	return Parse(s.Format, data, s.Name())
}

func fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := fetchClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxCatalogBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxCatalogBytes {
		return nil, fmt.Errorf("catalog larger than %d bytes", MaxCatalogBytes)
	}
	return data, nil
}

// LiveOptions are the book options and the hooks of a LiveBook.
type LiveOptions struct {
	BookOptions
	// OnLoad is called after each load of a source that brought warnings
	// (at open and at every refresh): the catalog is in use all the same.
	OnLoad func(s Source, c *Catalog, warnings []Problem)
	// OnRefresh is called after each refresh of a source: err when it
	// failed (the last good catalog stays), else changed says whether the
	// new catalog replaced the book.
	OnRefresh func(s Source, c *Catalog, changed bool, err error)
}

// LiveBook is a Book layered from sources and kept current: a refresh that
// brings a new good catalog swaps in a new book atomically (calls in flight
// finish with the book they started with); one that fails keeps the last
// good catalog.
type LiveBook struct {
	sources []Source
	opts    LiveOptions
	book    atomic.Pointer[Book]

	mu      sync.Mutex // serializes rebuilds
	current []*Catalog // last good catalog of each source

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// OpenLiveBook loads every source (the embedded snapshot when there is
// none) and layers them, first source lowest. A source that cannot be read
// or parsed fails the open: "sources[i] NAME: reason".
func OpenLiveBook(ctx context.Context, sources []Source, opts LiveOptions) (*LiveBook, error) {
	l := &LiveBook{sources: sources, opts: opts, stop: make(chan struct{})}
	if len(sources) == 0 {
		l.current = []*Catalog{Embedded()}
	}
	for i := range sources {
		c, err := l.load(ctx, i)
		if err != nil {
			return nil, err
		}
		l.current = append(l.current, c)
	}
	if err := l.rebuild(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *LiveBook) load(ctx context.Context, i int) (*Catalog, error) {
	s := l.sources[i]
	c, warns, err := s.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("sources[%d] %s: %w", i, s.Name(), err)
	}
	if len(warns) > 0 && l.opts.OnLoad != nil {
		l.opts.OnLoad(s, c, warns)
	}
	return c, nil
}

func (l *LiveBook) rebuild() error {
	b, err := NewBook(append([]*Catalog(nil), l.current...), l.opts.BookOptions)
	if err != nil {
		return err
	}
	l.book.Store(b)
	return nil
}

// Book is the current book.
func (l *LiveBook) Book() *Book { return l.book.Load() }

// Price prices one call with the current book.
func (l *LiveBook) Price(q *Query, r *Result) { l.book.Load().Price(q, r) }

// Start starts one refresh loop per source with a refresh interval; Close
// stops them.
func (l *LiveBook) Start() {
	for i, s := range l.sources {
		if s.RefreshInterval <= 0 {
			continue
		}
		l.wg.Add(1)
		go l.refreshLoop(i, s.RefreshInterval)
	}
}

func (l *LiveBook) refreshLoop(i int, every time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.stop
		cancel()
	}()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			l.Refresh(ctx, i)
		}
	}
}

// Refresh reloads source i now and reports the outcome to OnRefresh; a
// refresh cancelled by ctx (shutting down) reports nothing.
func (l *LiveBook) Refresh(ctx context.Context, i int) {
	c, err := l.load(ctx, i)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return
		}
		l.report(i, nil, false, err)
		return
	}
	l.mu.Lock()
	changed := l.current[i].Version() != c.Version()
	if changed {
		prev := l.current[i]
		l.current[i] = c
		if err = l.rebuild(); err != nil {
			l.current[i] = prev
		}
	}
	l.mu.Unlock()
	l.report(i, c, changed && err == nil, err)
}

func (l *LiveBook) report(i int, c *Catalog, changed bool, err error) {
	if l.opts.OnRefresh != nil {
		l.opts.OnRefresh(l.sources[i], c, changed, err)
	}
}

// Close stops the refresh loops and waits for them; nil-safe and idempotent.
func (l *LiveBook) Close() {
	if l == nil {
		return
	}
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
}

// Stopped is closed once Close was called.
func (l *LiveBook) Stopped() <-chan struct{} { return l.stop }
