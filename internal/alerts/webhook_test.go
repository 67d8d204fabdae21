package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/deadletter"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/pkg/webhooksig"
)

var at = time.Date(2026, 11, 14, 12, 0, 0, 0, time.UTC)

// ledgerWithAlerts returns a SQLite ledger in which one call fired the free
// plan's 50, 80 and 100 % alerts of tenant acme.
func ledgerWithAlerts(t *testing.T) *balances.Ledger {
	ps, err := entitlement.Parse([]byte(`
default_plan: free
plans:
  free:
    credits_per_usd: "1000"
    allowances: [{name: credits, meter: credits, amount: "100", limit: hard}]
`))
	require.NoError(t, err)
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "usage.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.NoError(t, st.Migrate(context.Background()))
	l := balances.ForSQLite(st, entitlement.StaticSource(ps), true)
	_, _, err = st.Insert(context.Background(), []usage.Record{{EventID: strings.Repeat("a", 48), TenantID: "acme", Time: at,
		CatalogProvider: "openai", CatalogModel: "o3", PricingStatus: usage.StatusPriced, CostUSD: "0.01", RevenueUSD: "0.1", Billable: true}})
	require.NoError(t, err)
	return l
}

// receiver is a webhook endpoint that verifies signatures and answers from
// a script per alert id (default 200).
type receiver struct {
	mu       sync.Mutex
	answers  map[string][]func(w http.ResponseWriter)
	got      []string // ids of the posts it accepted (2xx), in order
	posts    int
	badSigs  int
	received []Payload
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.posts++
	if err := webhooksig.Verify("s3cret", req.Header.Get(webhooksig.Header), body, time.Now(), webhooksig.Tolerance); err != nil {
		r.badSigs++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var p Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Alert.ID != req.Header.Get(IDHeader) {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if as := r.answers[p.Alert.ID]; len(as) > 0 {
		r.answers[p.Alert.ID] = as[1:]
		as[0](w)
		return
	}
	r.got = append(r.got, p.Alert.ID)
	r.received = append(r.received, p)
}

const (
	id50  = "threshold/acme/1793491200/allowance:credits/50"
	id80  = "threshold/acme/1793491200/allowance:credits/80"
	id100 = "threshold/acme/1793491200/allowance:credits/100"
)

func TestWebhookRetriesBackoffRetryAfterAndDeadLetters(t *testing.T) {
	ctx := context.Background()
	l := ledgerWithAlerts(t)
	rcv := &receiver{answers: map[string][]func(http.ResponseWriter){
		// 50 %: unavailable twice, the second time asking for 10 minutes.
		id50: {
			func(w http.ResponseWriter) { http.Error(w, "busy", http.StatusServiceUnavailable) },
			func(w http.ResponseWriter) {
				w.Header().Set("Retry-After", "600")
				http.Error(w, "later", http.StatusTooManyRequests)
			},
		},
		// 80 %: refused outright.
		id80: {func(w http.ResponseWriter) { http.Error(w, "no such hook", http.StatusGone) }},
	}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dlPath := filepath.Join(t.TempDir(), "dead", "alerts.jsonl")
	dl, err := deadletter.Open(dlPath)
	require.NoError(t, err)
	defer dl.Close()
	s := NewSender(Webhook{Endpoint: srv.URL, Secret: "s3cret", MaxAttempts: 5, InitialBackoff: time.Minute, MaxBackoff: time.Hour,
		Lease: 30 * time.Second, Timeout: 5 * time.Second}, l, nil, dl)
	clock := time.Now()
	s.now = func() time.Time { return clock }
	var fates []string
	s.Observe = func(a balances.Alert, fate, reason string) { fates = append(fates, a.ID+" "+fate+" "+reason) }

	n, err := s.Deliver(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{Delivered: 1, Retried: 1, Dead: 1}, n)
	// Backoff: nothing due 59 s later, the 50 % alert after a minute.
	clock = clock.Add(59 * time.Second)
	n, err = s.Deliver(ctx)
	require.NoError(t, err)
	assert.Empty(t, n)
	clock = clock.Add(time.Second)
	n, err = s.Deliver(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{Retried: 1}, n)
	// Retry-After 600 s beats the 2-minute backoff.
	clock = clock.Add(599 * time.Second)
	n, err = s.Deliver(ctx)
	require.NoError(t, err)
	assert.Empty(t, n)
	clock = clock.Add(time.Second)
	n, err = s.Deliver(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{Delivered: 1}, n)
	clock = clock.Add(24 * time.Hour)
	n, err = s.Deliver(ctx)
	require.NoError(t, err)
	assert.Empty(t, n)

	assert.Equal(t, []string{
		id100 + " delivered ",
		id50 + " retried http 503: busy",
		id80 + " dead_lettered http 410: no such hook",
		id50 + " retried http 429: later",
		id50 + " delivered ",
	}, fates)
	assert.Equal(t, []string{id100, id50}, rcv.got)
	assert.Equal(t, 0, rcv.badSigs)
	assert.Equal(t, 5, rcv.posts)
	assert.Equal(t, "100", rcv.received[0].Alert.Detail.Amount)
	assert.Equal(t, "100", rcv.received[0].Alert.Detail.Used)

	line, err := os.ReadFile(dlPath)
	require.NoError(t, err)
	var dead struct {
		Reason string
		Alert  balances.Alert
	}
	require.NoError(t, json.Unmarshal(line, &dead))
	assert.Equal(t, "http 410: no such hook", dead.Reason)
	assert.Equal(t, id80, dead.Alert.ID)
	as, err := l.Alerts(ctx, balances.AlertFilter{}, at)
	require.NoError(t, err)
	got := map[string]string{}
	for _, a := range as {
		got[a.ID] = fmt.Sprintf("attempts=%d delivered=%v dead=%q", a.Attempts, !a.DeliveredAt.IsZero(), a.DeadReason)
	}
	assert.Equal(t, map[string]string{
		id50:  `attempts=3 delivered=true dead=""`,
		id80:  `attempts=1 delivered=false dead="http 410: no such hook"`,
		id100: `attempts=1 delivered=true dead=""`,
	}, got)
}

func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	ctx := context.Background()
	l := ledgerWithAlerts(t)
	s := NewSender(Webhook{Endpoint: "http://127.0.0.1:1/hook", Secret: "s3cret", MaxAttempts: 2, InitialBackoff: time.Second,
		MaxBackoff: time.Second, Lease: time.Second, Timeout: time.Second}, l, nil, nil)
	clock := time.Now()
	s.now = func() time.Time { return clock }
	n, err := s.Deliver(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{Retried: 3}, n)
	clock = clock.Add(time.Second)
	n, err = s.Deliver(ctx)
	require.NoError(t, err)
	assert.Equal(t, map[string]int{Dead: 3}, n)
	as, err := l.Alerts(ctx, balances.AlertFilter{}, at)
	require.NoError(t, err)
	assert.Contains(t, as[0].DeadReason, "post: Post \"http://127.0.0.1:1/hook\"")
	assert.Contains(t, as[0].DeadReason, "(after 2 attempts)")
}

// TestTwoSendersPostEachAlertOnce: two senders on one ledger at once (two
// collectors) post each alert once.
func TestTwoSendersPostEachAlertOnce(t *testing.T) {
	ctx := context.Background()
	l := ledgerWithAlerts(t)
	rcv := &receiver{answers: map[string][]func(http.ResponseWriter){}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	cfg := Webhook{Endpoint: srv.URL, Secret: "s3cret", MaxAttempts: 3, InitialBackoff: time.Second, MaxBackoff: time.Second,
		Lease: time.Minute, Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := NewSender(cfg, l, nil, nil).Deliver(ctx)
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.ElementsMatch(t, []string{id50, id80, id100}, rcv.got)
	assert.Equal(t, 3, rcv.posts)
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 14, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, 30*time.Second, retryAfter("30", now))
	assert.Equal(t, 90*time.Second, retryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now))
	assert.Equal(t, time.Duration(0), retryAfter("soon", now))
	assert.Equal(t, time.Duration(0), retryAfter("", now))
}
