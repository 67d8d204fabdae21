package genaibillingexporter

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/pkg/webhooksig"
	"github.com/stretchr/testify/require"
)

// contractServer is a local stand-in for one billing backend. It follows the
// backend's documented ingest contract (request shape, dedupe on the
// idempotency key, partial-failure answers) and injects faults on a fixed
// schedule, so that a test can check that after the storm every event was
// ingested exactly once per key and the tally is exact.
type contractServer struct {
	t       testing.TB
	backend string // backend name; "stripe_v2" for the v2 stream
	srv     *httptest.Server
	secret  string // webhook secret

	// faults maps a request number (1-based, per ingest endpoint) to a fault.
	faults func(n int) fault
	// badCustomer is refused per event (4xx) by backends that refuse per event.
	badCustomer string
	// sessionUses is how many stream requests a Stripe v2 session token serves
	// before the server answers billing_meter_event_session_expired.
	sessionUses int

	mu             sync.Mutex
	requests       int                    // ingest requests received
	ingested       map[string]int         // key → times ingested as new (must end at 1)
	duplicates     int                    // events refused or skipped as already ingested
	tally          map[string]apd.Decimal // customer + "/" + meter → exact sum
	events         map[string]contractEvent
	sessions       map[string]int // v2 token → uses left
	sessionsIssued int
	// idempotent holds Stripe v1's saved answers by Idempotency-Key.
	idempotent map[string]stripeSaved
}

// stripeSaved is the answer Stripe saved for an Idempotency-Key, with the
// request body it answered: a retry with the same key and body gets the same
// answer again (Idempotent-Replayed: true) without a second ingest; the same
// key with another body is refused.
type stripeSaved struct {
	body   string
	status int
	answer []byte
}

// stripeForgetEvery: the stand-in forgets its saved answers every this many
// requests, as Stripe prunes keys older than 24 hours. A retry after that
// reaches the identifier's own uniqueness check (400 resource_already_exists),
// the other path by which a retried event is recognized as delivered.
const stripeForgetEvery = 16

type fault int

const (
	faultNone         fault = iota
	fault429                // 429 with Retry-After: 0, nothing ingested
	fault500                // 500, nothing ingested
	faultResetBefore        // connection reset before ingesting
	faultAckLost            // ingested, then the connection is reset: the client must retry, the key dedupes
	faultTimeoutAfter       // ingested, then the answer is late beyond the client timeout
	faultDuplicateAck       // ingested, answered 200, then the same body is replayed (twice-sent answer on the wire is not possible in HTTP/1.1; the server ingests the request body a second time instead)
)

type contractEvent struct {
	key, customer, meter, value string
}

// stormFaults is the fault schedule of the storm tests: three requests in
// four of the first 400 fail, in every way, then the backend recovers.
func stormFaults(n int) fault {
	if n > 400 {
		return faultNone
	}
	switch n % 8 {
	case 1:
		return fault429
	case 3:
		return fault500
	case 4:
		return faultDuplicateAck
	case 5:
		return faultAckLost
	case 6:
		return faultResetBefore
	case 0:
		if n%24 == 0 {
			return faultTimeoutAfter
		}
		return fault429
	}
	return faultNone
}

func newContractServer(t testing.TB, backend string) *contractServer {
	s := &contractServer{t: t, backend: backend, faults: func(int) fault { return faultNone },
		ingested: map[string]int{}, tally: map[string]apd.Decimal{}, events: map[string]contractEvent{},
		sessions: map[string]int{}, sessionUses: 3, secret: "whsec_test", idempotent: map[string]stripeSaved{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *contractServer) url() string { return s.srv.URL }

func (s *contractServer) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if s.backend == "stripe_v2" && r.URL.Path == "/v2/billing/meter_event_session" {
		s.session(w, r)
		return
	}
	if want := s.path(); r.URL.Path != want {
		http.Error(w, "unexpected path "+r.URL.Path+", want "+want, http.StatusNotFound)
		return
	}
	if !s.authorized(w, r, body) {
		return
	}
	if s.backend == "stripe" && !s.idempotencyKeyed(w, r, body) {
		return
	}
	s.mu.Lock()
	s.requests++
	f := s.faults(s.requests)
	if s.backend == "stripe" && s.requests%stripeForgetEvery == 0 {
		clear(s.idempotent)
	}
	s.mu.Unlock()
	switch f {
	case fault429:
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error":"rate limited"}`, http.StatusTooManyRequests)
		return
	case fault500:
		http.Error(w, `{"error":"internal"}`, http.StatusInternalServerError)
		return
	case faultResetBefore:
		reset(w)
		return
	}
	evs, err := s.parse(r, body)
	if err != nil {
		s.t.Errorf("%s: bad request body: %v\n%s", s.backend, err, body)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ingest := func() (int, []byte) { return s.ingest(evs) }
	if s.backend == "stripe" {
		ingest = func() (int, []byte) {
			status, answer, replayed := s.stripeReplay(r.Header.Get("Idempotency-Key"), body, evs)
			if replayed {
				w.Header().Set("Idempotent-Replayed", "true")
			}
			return status, answer
		}
	}
	status, answer := ingest()
	switch f {
	case faultAckLost:
		reset(w)
		return
	case faultTimeoutAfter:
		time.Sleep(400 * time.Millisecond) // beyond the client's 200ms timeout
	case faultDuplicateAck:
		// The same request reaches the server twice (a proxy retried it):
		// the second copy must be deduped.
		ingest()
	}
	if answer == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// idempotencyKeyed checks the Stripe v1 request carries the Idempotency-Key
// header, equal to the event's identifier. Stripe does not require it, but
// without it a retried request is not answered with its first answer: a
// request whose answer was lost would be refused as a duplicate on a retry,
// and a retry with a changed body would not be caught. The exporter's
// contract is to send it on every request, so its absence fails the test.
func (s *contractServer) idempotencyKeyed(w http.ResponseWriter, r *http.Request, body []byte) bool {
	key := r.Header.Get("Idempotency-Key")
	v, err := url.ParseQuery(string(body))
	if err == nil && key != "" && key == v.Get("identifier") {
		return true
	}
	s.t.Errorf("stripe v1: Idempotency-Key %q, want the identifier %q", key, v.Get("identifier"))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","message":"test stand-in: missing or wrong Idempotency-Key"}}`))
	return false
}

// stripeReplay answers a Stripe v1 request under its Idempotency-Key: the
// saved answer when the key was seen with the same body, a 400
// idempotency_error when it was seen with another body, else the ingest's
// answer, saved when it is a 2xx (Stripe saves no result for a request that
// failed validation).
func (s *contractServer) stripeReplay(key string, body []byte, evs []contractEvent) (int, []byte, bool) {
	s.mu.Lock()
	saved, ok := s.idempotent[key]
	s.mu.Unlock()
	if ok {
		if saved.body != string(body) {
			s.t.Errorf("stripe v1: Idempotency-Key %q reused with another body:\n%s\nfirst:\n%s", key, body, saved.body)
			return http.StatusBadRequest, []byte(`{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`), false
		}
		s.mu.Lock()
		s.duplicates++
		s.mu.Unlock()
		return saved.status, saved.answer, true
	}
	status, answer := s.ingest(evs)
	if status < 300 {
		s.mu.Lock()
		s.idempotent[key] = stripeSaved{body: string(body), status: status, answer: answer}
		s.mu.Unlock()
	}
	return status, answer, false
}

func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("no hijacker")
	}
	c, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST, not FIN
	}
	_ = c.Close()
}

func (s *contractServer) path() string {
	switch s.backend {
	case "stripe":
		return "/v1/billing/meter_events"
	case "stripe_v2":
		return "/v2/billing/meter_event_stream"
	case backendOpenMeter:
		return "/api/v1/events"
	case backendLago:
		return "/api/v1/events/batch"
	case backendOrb, backendMetronome:
		return "/v1/ingest"
	}
	return "/hook"
}

func (s *contractServer) authorized(w http.ResponseWriter, r *http.Request, body []byte) bool {
	switch s.backend {
	case backendWebhook:
		if err := webhooksig.Verify(s.secret, r.Header.Get(webhooksig.Header), body, time.Now(), webhooksig.Tolerance); err != nil {
			s.t.Errorf("webhook signature: %v", err)
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return false
		}
		return true
	case "stripe_v2":
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		left, ok := s.sessions[tok]
		if ok && left > 0 {
			s.sessions[tok] = left - 1
		}
		s.mu.Unlock()
		if !ok || left == 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"type":"invalid_request_error","code":"billing_meter_event_session_expired","message":"The meter event session has expired."}}`))
			return false
		}
		return true
	}
	if r.Header.Get("Authorization") != "Bearer sk_test_key" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	return true
}

// session implements POST /v2/billing/meter_event_session.
func (s *contractServer) session(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer sk_test_key" {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	s.sessionsIssued++
	tok := fmt.Sprintf("mes_tok_%d", s.sessionsIssued)
	s.sessions[tok] = s.sessionUses
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "v2.billing.meter_event_session", "id": tok,
		"authentication_token": tok, "expires_at": time.Now().Add(15 * time.Minute).UTC().Format(time.RFC3339)})
}

func (s *contractServer) parse(r *http.Request, body []byte) ([]contractEvent, error) {
	switch s.backend {
	case "stripe":
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		if v.Get("identifier") == "" || v.Get("event_name") == "" || v.Get("timestamp") == "" {
			return nil, fmt.Errorf("missing field")
		}
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		return []contractEvent{{v.Get("identifier"), v.Get("payload[stripe_customer_id]"), v.Get("event_name"), v.Get("payload[value]")}}, nil
	case "stripe_v2":
		var b struct {
			Events []stripeV2Event `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, err
		}
		if len(b.Events) > 100 {
			return nil, fmt.Errorf("%d events > 100", len(b.Events))
		}
		out := make([]contractEvent, len(b.Events))
		for i, e := range b.Events {
			if _, err := time.Parse(time.RFC3339Nano, e.Timestamp); err != nil {
				return nil, err
			}
			out[i] = contractEvent{e.Identifier, e.Payload["stripe_customer_id"], e.EventName, e.Payload["value"]}
		}
		return out, nil
	case backendOpenMeter:
		if ct := r.Header.Get("Content-Type"); ct != "application/cloudevents-batch+json" {
			return nil, fmt.Errorf("content type %q", ct)
		}
		var b []cloudEvent
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, err
		}
		out := make([]contractEvent, len(b))
		for i, e := range b {
			if e.SpecVersion != "1.0" || e.Source != "genaimeter-test" {
				return nil, fmt.Errorf("specversion %q source %q", e.SpecVersion, e.Source)
			}
			// OpenMeter dedupes on id + source.
			out[i] = contractEvent{e.Source + "|" + e.ID, e.Subject, e.Type, e.Data["value"]}
		}
		return out, nil
	case backendLago:
		var b struct {
			Events []lagoEvent `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, err
		}
		if len(b.Events) > 100 {
			return nil, fmt.Errorf("%d events > 100", len(b.Events))
		}
		out := make([]contractEvent, len(b.Events))
		for i, e := range b.Events {
			out[i] = contractEvent{e.TransactionID, e.ExternalSubscriptionID, e.Code, e.Properties["value"]}
		}
		return out, nil
	case backendOrb:
		var b struct {
			Events []struct {
				IdempotencyKey     string                     `json:"idempotency_key"`
				ExternalCustomerID string                     `json:"external_customer_id"`
				EventName          string                     `json:"event_name"`
				Properties         map[string]json.RawMessage `json:"properties"`
			} `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, err
		}
		out := make([]contractEvent, len(b.Events))
		for i, e := range b.Events {
			// The value is a JSON number: keep its literal text.
			out[i] = contractEvent{e.IdempotencyKey, e.ExternalCustomerID, e.EventName, string(e.Properties["value"])}
		}
		return out, nil
	case backendMetronome:
		var b []metronomeEvent
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, err
		}
		if len(b) > 100 {
			return nil, fmt.Errorf("%d events > 100", len(b))
		}
		out := make([]contractEvent, len(b))
		for i, e := range b {
			out[i] = contractEvent{e.TransactionID, e.CustomerID, e.EventType, e.Properties["value"]}
		}
		return out, nil
	}
	var b struct {
		Events []webhookEvent `json:"events"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	out := make([]contractEvent, len(b.Events))
	for i, e := range b.Events {
		out[i] = contractEvent{e.ID, e.Customer, e.EventName, e.Value}
	}
	return out, nil
}

// ingest applies the backend's dedupe and refusal rules and returns the
// answer it gives.
func (s *contractServer) ingest(evs []contractEvent) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dup := make([]bool, len(evs))
	bad := make([]bool, len(evs))
	anyBad, anyDup := false, false
	for i, e := range evs {
		dup[i] = s.ingested[e.key] > 0
		bad[i] = e.customer == s.badCustomer && s.badCustomer != ""
		anyBad = anyBad || bad[i]
		anyDup = anyDup || dup[i]
	}
	add := func(i int) {
		e := evs[i]
		if dup[i] {
			s.duplicates++
			return
		}
		var v apd.Decimal
		if _, _, err := v.SetString(e.value); err != nil {
			s.t.Errorf("%s: value %q is not a decimal", s.backend, e.value)
			return
		}
		k := e.customer + "/" + e.meter
		sum := s.tally[k]
		if err := money.Add(&sum, &sum, &v); err != nil {
			s.t.Errorf("add: %v", err)
		}
		s.tally[k] = sum
		s.ingested[e.key]++
		s.events[e.key] = e
	}
	switch s.backend {
	case "stripe":
		e := evs[0]
		if bad[0] {
			return 400, []byte(`{"error":{"type":"invalid_request_error","code":"resource_missing","param":"payload[stripe_customer_id]","message":"No such customer: '` + e.customer + `'"}}`)
		}
		if dup[0] {
			s.duplicates++
			return 400, []byte(`{"error":{"type":"invalid_request_error","code":"resource_already_exists","param":"identifier","message":"An event with identifier '` + e.key + `' already exists."}}`)
		}
		add(0)
		return 200, []byte(`{"object":"billing.meter_event","identifier":"` + e.key + `"}`)
	case backendLago:
		if anyBad || anyDup {
			// Lago validates the whole batch and ingests none of it.
			details := map[string]map[string][]string{}
			for i := range evs {
				switch {
				case bad[i]:
					details[strconv.Itoa(i)] = map[string][]string{"external_subscription_id": {"subscription_not_found"}}
				case dup[i]:
					details[strconv.Itoa(i)] = map[string][]string{"transaction_id": {"value_already_exist"}}
				}
			}
			b, _ := json.Marshal(map[string]any{"status": 422, "error": "Unprocessable Entity", "code": "validation_errors", "error_details": details})
			for i := range evs {
				if dup[i] {
					s.duplicates++
				}
			}
			return 422, b
		}
		for i := range evs {
			add(i)
		}
		return 200, nil
	case backendOrb:
		var failed []map[string]any
		var dups []string
		for i, e := range evs {
			switch {
			case bad[i]:
				failed = append(failed, map[string]any{"idempotency_key": e.key, "validation_errors": []string{"unknown external_customer_id"}})
			case dup[i]:
				dups = append(dups, e.key)
				add(i)
			default:
				add(i)
			}
		}
		b, _ := json.Marshal(map[string]any{"validation_failed": failed, "debug": map[string]any{"duplicate": dups}})
		return 200, b
	case backendWebhook:
		resp := webhookResponse{Rejected: map[string]string{}}
		for i, e := range evs {
			switch {
			case bad[i]:
				resp.Rejected[e.key] = "unknown customer"
			case dup[i]:
				resp.Duplicate = append(resp.Duplicate, e.key)
				add(i)
			default:
				add(i)
			}
		}
		b, _ := json.Marshal(resp)
		return 200, b
	}
	// Stripe v2, OpenMeter and Metronome dedupe silently.
	for i := range evs {
		add(i)
	}
	if s.backend == backendOpenMeter {
		return 204, nil
	}
	return 200, []byte(`{}`)
}

// snapshot returns the per-key ingest counts and the tally.
func (s *contractServer) snapshot() (map[string]int, map[string]apd.Decimal, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ing := make(map[string]int, len(s.ingested))
	for k, v := range s.ingested {
		ing[k] = v
	}
	tally := make(map[string]apd.Decimal, len(s.tally))
	for k, v := range s.tally {
		tally[k] = v
	}
	return ing, tally, s.requests
}

func requireDecimal(t testing.TB, want string, got apd.Decimal, msg string) {
	t.Helper()
	var w apd.Decimal
	_, _, err := w.SetString(want)
	require.NoError(t, err)
	require.Zerof(t, w.Cmp(&got), "%s: want %s, got %s", msg, want, got.String())
}
