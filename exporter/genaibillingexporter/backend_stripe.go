package genaibillingexporter

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Stripe meter events: v1 (one form-encoded event per request, the
// identifier doubling as Idempotency-Key) and v2 (meter event sessions and
// batched streams).

// stripeV2MaxBatch is the most events one Stripe v2 stream request carries.
const stripeV2MaxBatch = 100

// Stripe v1: POST /v1/billing/meter_events, one form-encoded event per request.

type stripeV1 struct {
	httpBackend
	url string
}

func (b *stripeV1) maxBatch() int { return 1 }

func (b *stripeV1) send(ctx context.Context, evs []*event) []outcome {
	e := evs[0]
	form := url.Values{}
	form.Set("event_name", e.meter)
	form.Set("payload[stripe_customer_id]", e.customer)
	form.Set("payload["+valueProperty+"]", e.valueText())
	form.Set("timestamp", strconv.FormatInt(e.time.Unix(), 10))
	form.Set("identifier", e.key)
	// The key also goes in Idempotency-Key, so that Stripe replays the first
	// answer to a retried request instead of reporting a conflict.
	out, resp := b.exchange(ctx, 1, b.url, "application/x-www-form-urlencoded", []byte(form.Encode()),
		map[string]string{"Idempotency-Key": e.key}, true)
	if out != nil {
		return out
	}
	if resp.status < 300 {
		return []outcome{{fate: fateDelivered, status: resp.status}}
	}
	if isStripeDuplicate(resp) {
		return []outcome{{fate: fateDuplicate, status: resp.status}}
	}
	return []outcome{permanent(resp)}
}

// isStripeDuplicate recognizes Stripe's refusal of an identifier it already
// has (within its 24 h uniqueness window): the event is already metered.
func isStripeDuplicate(resp *response) bool {
	if resp.status != http.StatusBadRequest && resp.status != http.StatusConflict {
		return false
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Param   string `json:"param"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(resp.body, &body) != nil {
		return false
	}
	e := body.Error
	return e.Code == "resource_already_exists" ||
		(e.Param == "identifier" && strings.Contains(strings.ToLower(e.Message), "already"))
}

// Stripe v2: a meter event session (15 min token), then meter_event_stream batches.

type stripeV2 struct {
	httpBackend
	sessionURL string
	streamURL  string

	mu      sync.Mutex
	token   string
	expires time.Time
}

func (b *stripeV2) maxBatch() int { return stripeV2MaxBatch }

// sessionMargin renews the token this long before it expires, so that a
// request never starts with a token about to lapse.
const sessionMargin = time.Minute

// session returns the current session token, creating a new session when
// there is none, it is about to expire, or the stream refused it (stale is the
// refused token; concurrent senders that were refused the same token renew it
// only once).
func (b *stripeV2) session(ctx context.Context, stale string) (string, *outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token != "" && b.token != stale && b.now().Add(sessionMargin).Before(b.expires) {
		return b.token, nil
	}
	resp, err := b.do(ctx, b.sessionURL, "application/json", []byte("{}"), nil)
	if o, ok := transient(resp, err, b.now()); ok {
		return "", &o
	}
	if resp.status >= 300 {
		o := permanent(resp)
		return "", &o
	}
	var s struct {
		Token     string    `json:"authentication_token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(resp.body, &s); err != nil || s.Token == "" {
		// A 2xx we cannot read is the server's fault: retry.
		return "", &outcome{fate: fateRetry, status: resp.status, body: clip(resp.body), err: fmt.Errorf("meter event session: unreadable answer")}
	}
	b.token, b.expires = s.Token, s.ExpiresAt
	return b.token, nil
}

type stripeV2Event struct {
	EventName  string            `json:"event_name"`
	Identifier string            `json:"identifier"`
	Timestamp  string            `json:"timestamp"`
	Payload    map[string]string `json:"payload"`
}

func (b *stripeV2) send(ctx context.Context, evs []*event) []outcome {
	body := struct {
		Events []stripeV2Event `json:"events"`
	}{Events: make([]stripeV2Event, len(evs))}
	for i, e := range evs {
		body.Events[i] = stripeV2Event{EventName: e.meter, Identifier: e.key, Timestamp: e.time.UTC().Format(time.RFC3339Nano),
			Payload: map[string]string{"stripe_customer_id": e.customer, valueProperty: e.valueText()}}
	}
	buf, _ := json.Marshal(&body)
	stale := ""
	for attempt := 0; ; attempt++ {
		tok, o := b.session(ctx, stale)
		if o != nil {
			return all(len(evs), *o)
		}
		resp, err := b.httpBackend.doWithToken(ctx, b.streamURL, tok, buf)
		if o, ok := transient(resp, err, b.now()); ok {
			return all(len(evs), o)
		}
		if resp.status < 300 {
			// The stream acknowledges the batch; per-event validation errors
			// arrive later as Stripe events (v1.billing.meter.error_report_triggered).
			return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
		}
		if resp.status == http.StatusUnauthorized {
			// billing_meter_event_session_expired (or revoked): the session was
			// refused, not the events. Renew once now; if the new session is
			// refused as well (other senders used it up), retry later — a bad
			// API key is refused when the session is created, permanently.
			if attempt == 0 {
				stale = tok
				continue
			}
			return all(len(evs), outcome{fate: fateRetry, status: resp.status, body: clip(resp.body),
				err: fmt.Errorf("meter event session refused twice")})
		}
		return all(len(evs), permanent(resp))
	}
}

func (h *httpBackend) doWithToken(ctx context.Context, url, token string, body []byte) (*response, error) {
	hb := *h
	hb.apiKey = token
	return hb.do(ctx, url, "application/json", body, nil)
}
