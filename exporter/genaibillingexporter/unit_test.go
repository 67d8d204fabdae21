package genaibillingexporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/pkg/webhooksig"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	assert.Equal(t, 7*time.Second, retryAfter("7", now))
	assert.Equal(t, 90*time.Second, retryAfter(now.Add(90*time.Second).Format(http.TimeFormat), now))
	assert.Equal(t, time.Duration(0), retryAfter("", now))
	assert.Equal(t, time.Duration(0), retryAfter("soon", now))
	assert.Equal(t, time.Duration(0), retryAfter(now.Add(-time.Hour).Format(http.TimeFormat), now))
}

// TestWebhookSignature: the webhook backend signs each POST with
// pkg/webhooksig at the backend's clock, so that receivers verify it with
// webhooksig.Verify (its own tests cover tampering and replay).
func TestWebhookSignature(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var header string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Get(webhooksig.Header)
		body, _ = io.ReadAll(r.Body)
	}))
	t.Cleanup(srv.Close)
	cfg := createDefaultConfig().(*Config)
	cfg.Backend = backendWebhook
	cfg.ClientConfig.Endpoint = srv.URL
	cfg.Webhook.Secret = "s3cret"
	ev := &event{key: eid("w") + ":genai_tokens", meter: "genai_tokens", customer: "cus_1", tenant: "acme", time: now}
	ev.value.SetInt64(7)
	out := newBackend(cfg, srv.Client(), func() time.Time { return now }).send(context.Background(), []*event{ev})
	require.Equal(t, fateDelivered, out[0].fate)
	assert.Equal(t, "t=1800000000,v1=", header[:16])
	require.NoError(t, webhooksig.Verify("s3cret", header, body, now.Add(time.Minute), webhooksig.Tolerance))
	assert.ErrorIs(t, webhooksig.Verify("other", header, body, now, webhooksig.Tolerance), webhooksig.ErrSignature)
}

func webhookConfig(t *testing.T, url string) *Config {
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.Backend = backendWebhook
	cfg.ClientConfig.Endpoint = url
	cfg.Webhook.Secret = "whsec_test"
	cfg.Customers.File = writeCustomers(t, dir, stormCustomers)
	cfg.DeadLetter.Path = filepath.Join(dir, "dead.jsonl")
	cfg.Meters = []MeterConfig{{Name: "genai_tokens", Value: valueTotalTokens}, {Name: "genai_cost", Value: valueCostUSD}}
	require.NoError(t, cfg.Validate())
	return cfg
}

// A 429 with Retry-After becomes an exporterhelper throttle error carrying
// the delay, wrapping only the records still to deliver, each marked with
// the meters still pending.
func TestThrottleKeepsRetryAfterAndPendingMeters(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Retry-After", "42")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	e := newTestExporter(t, webhookConfig(t, srv.URL))
	recs := stormRecords(3) // t1, t2, t3: all mapped and priced
	err := e.pushLogs(context.Background(), toLogs(recs))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.Contains(t, err.Error(), "Throttle (42s)")
	var le consumererror.Logs
	require.True(t, errors.As(err, &le))
	left := le.Data()
	require.Equal(t, 3, left.LogRecordCount())
	lr := left.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	pending, ok := lr.Attributes().Get(attrPending)
	require.True(t, ok)
	assert.Equal(t, []any{"genai_tokens", "genai_cost"}, pending.Slice().AsRaw())
	assert.Equal(t, 1, calls)
}

// Stripe takes whole numbers: a cost that the configured scale does not turn
// into an integer is refused and dead-lettered, never rounded; and an
// unpriced billable record is never sent as 0 on a cost meter.
func TestStripeRefusesLossyValues(t *testing.T) {
	var forms []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		forms = append(forms, r.PostForm.Get("event_name")+"="+r.PostForm.Get("payload[value]"))
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.Backend = backendStripe
	cfg.APIKey = "sk_test_key"
	cfg.ClientConfig.Endpoint = srv.URL
	cfg.Customers.File = writeCustomers(t, dir, stormCustomers)
	cfg.DeadLetter.Path = filepath.Join(dir, "dead.jsonl")
	cfg.Meters = []MeterConfig{{Name: "cost_micro_usd", Value: valueCostUSD, Scale: "1000000"}}
	e := newTestExporter(t, cfg)
	recs := []usage.Record{
		{EventID: eid("a"), TenantID: "t1", PricingStatus: usage.StatusPriced, CostUSD: "0.000135", Billable: true, Time: time.Unix(1_800_000_000, 0)},
		{EventID: eid("b"), TenantID: "t1", PricingStatus: usage.StatusPriced, CostUSD: "0.0000001", Billable: true, Time: time.Unix(1_800_000_000, 0)},
		{EventID: eid("c"), TenantID: "t1", PricingStatus: usage.StatusUnpriced, Billable: true, Time: time.Unix(1_800_000_000, 0)},
		{EventID: eid("d"), TenantID: "t1", PricingStatus: usage.StatusPriced, CostUSD: "5", Billable: false, Time: time.Unix(1_800_000_000, 0)},
	}
	require.NoError(t, e.pushLogs(context.Background(), toLogs(recs)))
	assert.Equal(t, []string{"cost_micro_usd=135"}, forms)
	dead := readDeadLetters(t, cfg.DeadLetter.Path)
	require.Len(t, dead, 2)
	assert.Equal(t, reasonNoValue, dead[0].Reason)
	assert.Equal(t, []string{eid("c")}, dead[0].EventIDs)
	assert.Equal(t, reasonInexactValue, dead[1].Reason)
	assert.Equal(t, "0.1", dead[1].Event.Value)
	assert.Equal(t, eid("b")+":cost_micro_usd", dead[1].Event.Key)
}

// A no_usage or invalid_usage record is never sent as 0 on a token meter:
// it is dead-lettered with the reason, as an unpriced record is on a cost
// meter; a genuine zero (a priced call that read no cache) is skipped.
func TestTokenMeterDeadLettersCallsWithoutUsage(t *testing.T) {
	var forms []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		forms = append(forms, r.PostForm.Get("event_name")+"="+r.PostForm.Get("payload[value]"))
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.Backend = backendStripe
	cfg.APIKey = "sk_test_key"
	cfg.ClientConfig.Endpoint = srv.URL
	cfg.Customers.File = writeCustomers(t, dir, stormCustomers)
	cfg.DeadLetter.Path = filepath.Join(dir, "dead.jsonl")
	cfg.Conditions = []string{"true"} // bill everything, so that the invalid_usage record reaches the meters
	cfg.Meters = []MeterConfig{{Name: "input", Value: valueInputTokens}, {Name: "cache_read", Value: valueCacheReadTokens}}
	e := newTestExporter(t, cfg)
	at := time.Unix(1_800_000_000, 0)
	recs := []usage.Record{
		{EventID: eid("a"), TenantID: "t1", PricingStatus: usage.StatusPriced, CostUSD: "0.01", InputTokens: 4100, Billable: true, Time: at},
		{EventID: eid("b"), TenantID: "t1", PricingStatus: usage.StatusNoUsage, PricingDetail: "the span reports no token usage; the call was stopped before its end",
			Completion: usage.CompletionStopped, Billable: true, Time: at},
		{EventID: eid("c"), TenantID: "t1", PricingStatus: usage.StatusInvalidUsage, PricingDetail: "gen_ai.usage.input_tokens: token count must be >= 0, got -5",
			BillableReason: "invalid_usage", Time: at},
	}
	require.NoError(t, e.pushLogs(context.Background(), toLogs(recs)))
	assert.Equal(t, []string{"input=4100"}, forms, "the priced call's 0 cache reads are a genuine zero: skipped")
	dead := readDeadLetters(t, cfg.DeadLetter.Path)
	type line struct{ reason, meter, id, err string }
	var got []line
	for _, d := range dead {
		got = append(got, line{d.Reason, d.Event.Meter, d.EventIDs[0], d.Error})
	}
	assert.Equal(t, []line{
		{reasonNoValue, "input", eid("b"), `record has no value for this meter: the call has no token counts to bill (pricing status "no_usage": the span reports no token usage; the call was stopped before its end)`},
		{reasonNoValue, "cache_read", eid("b"), `record has no value for this meter: the call has no token counts to bill (pricing status "no_usage": the span reports no token usage; the call was stopped before its end)`},
		{reasonNoValue, "input", eid("c"), `record has no value for this meter: the call has no token counts to bill (pricing status "invalid_usage": gen_ai.usage.input_tokens: token count must be >= 0, got -5)`},
		{reasonNoValue, "cache_read", eid("c"), `record has no value for this meter: the call has no token counts to bill (pricing status "invalid_usage": gen_ai.usage.input_tokens: token count must be >= 0, got -5)`},
	}, got)
}

// Aggregation sums exactly and its key depends on the set of event ids only,
// not on their order.
func TestWindowKey(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	k1 := windowKey("t1", "m", start, []string{"a", "b"})
	assert.Equal(t, k1, windowKey("t1", "m", start, []string{"b", "a"}))
	assert.NotEqual(t, k1, windowKey("t1", "m", start, []string{"a", "b", "c"}))
	assert.NotEqual(t, k1, windowKey("t2", "m", start, []string{"a", "b"}))
	assert.NotEqual(t, k1, windowKey("t1", "m", start.Add(time.Minute), []string{"a", "b"}))
	assert.LessOrEqual(t, len(k1), 100)

	ev := func(id, v string, sec int) *event {
		e := &event{key: id, meter: "m", tenant: "t1", customer: "c", time: start.Add(time.Duration(sec) * time.Second), ids: []string{id}}
		e.value = dec(t, v)
		return e
	}
	out, err := aggregate([]*event{ev("a", "0.1", 1), ev("b", "0.2", 2), ev("c", "0.000000001", 70)}, time.Minute)
	require.NoError(t, err)
	require.Len(t, out, 2)
	assert.Equal(t, "0.3", out[0].valueText())
	assert.Equal(t, "0.000000001", out[1].valueText())
	assert.Equal(t, "2", out[0].props["records"])
}

func TestNotUsageRecordsAreDeadLettered(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer srv.Close()
	cfg := webhookConfig(t, srv.URL)
	e := newTestExporter(t, cfg)
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("hello")
	require.NoError(t, e.pushLogs(context.Background(), ld))
	dead := readDeadLetters(t, cfg.DeadLetter.Path)
	require.Len(t, dead, 1)
	assert.Equal(t, reasonNotUsageRecord, dead[0].Reason)
}

// A refused record whose attributes JSON cannot carry (a NaN double) is still
// dead-lettered, without its attributes, and the export succeeds: a poison
// record must not fail every retry of its batch forever.
func TestDeadLetterWithUnencodableAttributes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	defer srv.Close()
	cfg := webhookConfig(t, srv.URL)
	e := newTestExporter(t, cfg)
	ld := plog.NewLogs()
	lr := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Attributes().PutDouble("ratio", math.NaN())
	require.NoError(t, e.pushLogs(context.Background(), ld))
	dead := readDeadLetters(t, cfg.DeadLetter.Path)
	require.Len(t, dead, 1)
	assert.Equal(t, reasonNotUsageRecord, dead[0].Reason)
	assert.Nil(t, dead[0].LogRecord)
	assert.Contains(t, dead[0].Error, "(log record not encodable: json: unsupported value: NaN)")
}

// TestStripeV2SessionRefusedIsNotARefusalOfTheEvents: concurrent senders can
// use up a meter event session, so the stream may refuse a session that was
// just renewed. The events were not judged: they are retried, never
// dead-lettered. A bad API key is refused when the session is created.
func TestStripeV2SessionRefusedIsNotARefusalOfTheEvents(t *testing.T) {
	var sessions, streams int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/billing/meter_event_session":
			if r.Header.Get("Authorization") != "Bearer sk_test_key" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			sessions++
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"authentication_token":"tok","expires_at":"2099-01-01T00:00:00Z"}`))
		case "/v2/billing/meter_event_stream":
			streams++
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"code":"billing_meter_event_session_expired"}}`))
		}
	}))
	t.Cleanup(srv.Close)
	newV2 := func(key string) backend {
		cfg := createDefaultConfig().(*Config)
		cfg.Backend = backendStripe
		cfg.Stripe.API = "v2"
		cfg.Stripe.StreamEndpoint = srv.URL
		cfg.ClientConfig.Endpoint = srv.URL
		cfg.APIKey = configopaque.String(key)
		return newBackend(cfg, srv.Client(), time.Now)
	}
	ev := &event{key: "e1:genai_tokens", meter: "genai_tokens", customer: "cus_1", time: time.Now()}
	out := newV2("sk_test_key").send(context.Background(), []*event{ev})
	require.Len(t, out, 1)
	assert.Equal(t, fateRetry, out[0].fate, "a refused session is retried, not dead-lettered")
	assert.Equal(t, 2, sessions, "renewed once")
	assert.Equal(t, 2, streams)

	out = newV2("sk_wrong").send(context.Background(), []*event{ev})
	assert.Equal(t, fatePermanent, out[0].fate, "a bad key is refused for good")
}

// eid is a span-shaped event id (48 hex digits) named after n.
func eid(n string) string { return fmt.Sprintf("%048x", n) }

// TestStripeV1IdempotencyKey: the Stripe v1 stand-in of the storm tests
// requires the Idempotency-Key header (equal to the identifier) and replays
// its saved answer to a retry. Sent by the exporter, a lost answer's retry
// is answered 200 from the saved result, not ingested twice; with the header
// stripped from the request, the stand-in fails the test it serves.
func TestStripeV1IdempotencyKey(t *testing.T) {
	newV1 := func(tb testing.TB, client *http.Client) (*contractServer, backend) {
		srv := newContractServer(tb, "stripe")
		cfg := createDefaultConfig().(*Config)
		cfg.Backend = backendStripe
		cfg.ClientConfig.Endpoint = srv.url()
		cfg.APIKey = "sk_test_key"
		return srv, newBackend(cfg, client, time.Now)
	}
	ev := &event{key: eid("k") + ":genai_tokens", meter: "genai_tokens", customer: "cus_1", time: time.Unix(1772600000, 0)}
	ev.value.SetInt64(1250)

	srv, b := newV1(t, http.DefaultClient)
	for range 2 {
		out := b.send(context.Background(), []*event{ev})
		require.Len(t, out, 1)
		assert.Equal(t, fateDelivered, out[0].fate, "the retry gets the saved 200")
		assert.Equal(t, http.StatusOK, out[0].status)
	}
	ingested, tally, _ := srv.snapshot()
	assert.Equal(t, map[string]int{ev.key: 1}, ingested)
	requireDecimal(t, "1250", tally["cus_1/genai_tokens"], "tally")

	rec := &errorRecorder{TB: t}
	_, b = newV1(rec, &http.Client{Transport: withoutHeader{"Idempotency-Key"}})
	out := b.send(context.Background(), []*event{ev})
	assert.Equal(t, fatePermanent, out[0].fate)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{`stripe v1: Idempotency-Key "", want the identifier "` + ev.key + `"`}, rec.errors)
}

// errorRecorder keeps the errors a stand-in reports instead of failing the
// test, for tests that check the stand-in itself.
type errorRecorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *errorRecorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// withoutHeader is a transport that drops one request header: an exporter
// that forgot to send it.
type withoutHeader struct{ name string }

func (h withoutHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Del(h.name)
	return http.DefaultTransport.RoundTrip(r)
}

// TestWindowSumIsExact: a window's value adds its records' amounts with
// money.Add. Ten 0.1 next to 1e16 are lost by a float64 sum (checked first,
// so a float sum cannot pass); the window bills exactly 10000000000000001.
func TestWindowSumIsExact(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	values := []string{"10000000000000000"}
	for range 10 {
		values = append(values, "0.1")
	}
	const want = "10000000000000001"
	var float float64
	var evs []*event
	for i, v := range values {
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err)
		float += f
		id := strconv.Itoa(i)
		evs = append(evs, &event{key: id, meter: "m", tenant: "t1", customer: "c", time: start.Add(time.Duration(i) * time.Second), ids: []string{id}, value: dec(t, v)})
	}
	require.NotEqual(t, want, strconv.FormatFloat(float, 'f', -1, 64), "the values must defeat a float sum")
	out, err := aggregate(evs, time.Minute)
	require.NoError(t, err)
	require.Len(t, out, 1)
	assert.Equal(t, want, out[0].valueText())
	assert.Equal(t, "11", out[0].props["records"])
}
