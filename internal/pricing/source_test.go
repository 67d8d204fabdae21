package pricing

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/genaimeter/genaimeter/internal/money"
)

// liveCost prices 1M input tokens of acme-llm/acme-7b with the live book's
// current book: the input_mtok price of the catalog in use.
func liveCost(t *testing.T, l *LiveBook) (string, string) {
	t.Helper()
	var r Result
	l.Price(query(t, "acme-llm", "acme-7b", t2025, usageKV{"input_tokens": 1_000_000}), &r)
	if r.Status != Priced {
		t.Fatalf("not priced: %s", r.Detail)
	}
	return money.Format(&r.Cost), r.Ref
}

// TestSourceLoadURL: an http(s) source is fetched and named by its URL; a
// non-200 answer is an error naming the status; a catalog over the size
// limit is refused.
func TestSourceLoadURL(t *testing.T) {
	var status atomic.Int64
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/huge.yaml" {
			_, _ = w.Write([]byte(strings.Repeat("#", MaxCatalogBytes+1)))
			return
		}
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte("version: v1\nmodels:\n  - {provider: acme-llm, model: acme-7b, prices: {input_mtok: 1}}\n"))
	}))
	defer srv.Close()
	ctx := context.Background()
	s := Source{Format: FormatNative, URL: srv.URL + "/prices.yaml"}
	c, warns, err := s.Load(ctx)
	if err != nil || len(warns) != 0 {
		t.Fatalf("load: %v %v", err, warns)
	}
	if c.Source() != srv.URL+"/prices.yaml" || c.Version() != "v1" || s.Name() != c.Source() {
		t.Fatalf("source %q version %q name %q", c.Source(), c.Version(), s.Name())
	}
	status.Store(http.StatusNotFound)
	if _, _, err := s.Load(ctx); err == nil || err.Error() != "HTTP 404 Not Found" {
		t.Fatalf("404: %v", err)
	}
	if _, _, err := (Source{Format: FormatNative, URL: srv.URL + "/huge.yaml"}).Load(ctx); err == nil || err.Error() != "catalog larger than 67108864 bytes" {
		t.Fatalf("huge: %v", err)
	}
	if c, _, err := (Source{Embedded: true}).Load(ctx); err != nil || c != Embedded() {
		t.Fatalf("embedded: %v", err)
	}
}

// TestLiveBookRefresh drives refreshes by hand: an unchanged catalog keeps
// the book, a broken one keeps the last good catalog and is reported, a new
// version is swapped in; warnings are reported at each load.
func TestLiveBookRefresh(t *testing.T) {
	path := t.TempDir() + "/p.yaml"
	write := func(s string) {
		if err := writeFile(path, s); err != nil {
			t.Fatal(err)
		}
	}
	write("version: v1\nmodels:\n  - {provider: acme-llm, model: acme-7b, prices: {input_mtok: 1}}\n")
	type outcome struct {
		version string
		changed bool
		err     string
	}
	var outcomes []outcome
	var warned []string
	l, err := OpenLiveBook(context.Background(), []Source{{Format: FormatNative, Path: path}}, LiveOptions{
		OnLoad: func(s Source, c *Catalog, w []Problem) { warned = append(warned, s.Name()+"@"+c.Version()) },
		OnRefresh: func(_ Source, c *Catalog, changed bool, err error) {
			o := outcome{changed: changed}
			if c != nil {
				o.version = c.Version()
			}
			if err != nil {
				o.err = err.Error()
			}
			outcomes = append(outcomes, o)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	first := l.Book()
	ctx := context.Background()
	l.Refresh(ctx, 0) // unchanged
	if l.Book() != first {
		t.Fatal("an unchanged catalog must keep the book")
	}
	write("models: [oops")
	l.Refresh(ctx, 0)
	if l.Book() != first {
		t.Fatal("a broken catalog must keep the last good one")
	}
	if cost, _ := liveCost(t, l); cost != "1" {
		t.Fatalf("cost %s after a broken refresh", cost)
	}
	write("version: v2\nmodels:\n  - {provider: acme-llm, model: acme-7b, prices: {input_mtok: 2}}\n")
	l.Refresh(ctx, 0)
	if l.Book() == first {
		t.Fatal("a new version must be swapped in")
	}
	if cost, ref := liveCost(t, l); cost != "2" || ref != path+"@v2#acme-llm/acme-7b" {
		t.Fatalf("cost %s ref %s", cost, ref)
	}
	if len(outcomes) != 3 || outcomes[0] != (outcome{version: "v1"}) || outcomes[2] != (outcome{version: "v2", changed: true}) ||
		!strings.HasPrefix(outcomes[1].err, "sources[0] "+path+": ") {
		t.Fatalf("outcomes %+v", outcomes)
	}
	if len(warned) != 0 {
		t.Fatalf("warned %v", warned)
	}
}

// TestOpenLiveBookErrors: a source that cannot be read fails the open and
// is named by its index and name; no source means the embedded snapshot.
func TestOpenLiveBookErrors(t *testing.T) {
	_, err := OpenLiveBook(context.Background(), []Source{{Embedded: true}, {Format: FormatNative, Path: "/nonexistent/p.yaml"}}, LiveOptions{})
	if err == nil || err.Error() != "sources[1] /nonexistent/p.yaml: open /nonexistent/p.yaml: no such file or directory" {
		t.Fatalf("error %v", err)
	}
	l, err := OpenLiveBook(context.Background(), nil, LiveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ls := l.Book().Layers(); len(ls) != 1 || ls[0] != Embedded() {
		t.Fatalf("layers %v", ls)
	}
	l.Close()
	l.Close() // idempotent
	select {
	case <-l.Stopped():
	default:
		t.Fatal("Stopped must be closed after Close")
	}
	var nilBook *LiveBook
	nilBook.Close()
}

// TestLiveBookRefreshLoop: Start runs a loop per source with an interval,
// which swaps a new HTTP catalog in; Close stops it and a refresh cancelled
// by Close reports nothing.
func TestLiveBookRefreshLoop(t *testing.T) {
	var body atomic.Value
	body.Store("version: v1\nmodels:\n  - {provider: acme-llm, model: acme-7b, prices: {input_mtok: 1}}\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()
	var mu sync.Mutex
	var errs []error
	l, err := OpenLiveBook(context.Background(), []Source{{Format: FormatNative, URL: srv.URL, RefreshInterval: 10 * time.Millisecond}}, LiveOptions{
		OnRefresh: func(_ Source, _ *Catalog, _ bool, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Start()
	body.Store("version: v2\nmodels:\n  - {provider: acme-llm, model: acme-7b, prices: {input_mtok: 3}}\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if cost, _ := liveCost(t, l); cost == "3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refresh loop did not swap v2 in")
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, err := range errs {
		if errors.Is(err, context.Canceled) {
			t.Fatalf("a refresh cancelled by Close was reported: %v", err)
		}
	}
}
