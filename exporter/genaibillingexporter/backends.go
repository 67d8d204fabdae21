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

// Batch limits of the backends' ingest APIs.
const (
	stripeV2MaxBatch  = 100
	lagoMaxBatch      = 100
	orbMaxBatch       = 500
	metronomeMaxBatch = 100
	openMeterMaxBatch = 100
	webhookMaxBatch   = 100
)

// valueProperty is the payload/property key of the value in every backend
// (Stripe's default value_settings.event_payload_key; the Lago, Orb,
// Metronome and OpenMeter metrics aggregate the "value" property).
const valueProperty = "value"

// ---- Stripe v1: POST /v1/billing/meter_events, one form-encoded event per request.

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

// ---- Stripe v2: a meter event session (15 min token), then meter_event_stream batches.

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

// ---- OpenMeter: CloudEvents batch.

type openMeter struct {
	httpBackend
	url    string
	source string
}

func (b *openMeter) maxBatch() int { return openMeterMaxBatch }

type cloudEvent struct {
	SpecVersion string            `json:"specversion"`
	ID          string            `json:"id"`
	Source      string            `json:"source"`
	Type        string            `json:"type"`
	Subject     string            `json:"subject"`
	Time        string            `json:"time"`
	Data        map[string]string `json:"data"`
}

func (b *openMeter) send(ctx context.Context, evs []*event) []outcome {
	batch := make([]cloudEvent, len(evs))
	for i, e := range evs {
		batch[i] = cloudEvent{SpecVersion: "1.0", ID: e.key, Source: b.source, Type: e.meter, Subject: e.customer,
			Time: e.time.UTC().Format(time.RFC3339Nano), Data: dataWithValue(e)}
	}
	buf, _ := json.Marshal(batch)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/cloudevents-batch+json", buf, nil, false)
	if out != nil {
		return out
	}
	return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
}

// dataWithValue is the event's properties plus the value as exact decimal
// text: a JSON float could not carry 0.000135 exactly through every parser.
func dataWithValue(e *event) map[string]string {
	m := make(map[string]string, len(e.props)+1)
	for k, v := range e.props {
		m[k] = v
	}
	m[valueProperty] = e.valueText()
	return m
}

// ---- Lago: /api/v1/events/batch.

type lago struct {
	httpBackend
	url string
}

func (b *lago) maxBatch() int { return lagoMaxBatch }

type lagoEvent struct {
	TransactionID          string            `json:"transaction_id"`
	ExternalSubscriptionID string            `json:"external_subscription_id"`
	Code                   string            `json:"code"`
	Timestamp              string            `json:"timestamp"`
	Properties             map[string]string `json:"properties"`
}

func (b *lago) send(ctx context.Context, evs []*event) []outcome {
	body := struct {
		Events []lagoEvent `json:"events"`
	}{Events: make([]lagoEvent, len(evs))}
	for i, e := range evs {
		// Lago takes the timestamp as Unix seconds, fractional allowed.
		body.Events[i] = lagoEvent{TransactionID: e.key, ExternalSubscriptionID: e.customer, Code: e.meter,
			Timestamp: unixMillisText(e.time), Properties: dataWithValue(e)}
	}
	buf, _ := json.Marshal(&body)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/json", buf, nil, true)
	if out != nil {
		return out
	}
	if resp.status < 300 {
		return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
	}
	if resp.status != http.StatusUnprocessableEntity {
		return all(len(evs), permanent(resp))
	}
	// 422: Lago validated the batch and ingested none of it; error_details
	// is keyed by the index of each refused event.
	var r struct {
		ErrorDetails map[string]map[string][]string `json:"error_details"`
	}
	if json.Unmarshal(resp.body, &r) != nil || len(r.ErrorDetails) == 0 {
		return all(len(evs), permanent(resp))
	}
	out = all(len(evs), outcome{fate: fateResend, status: resp.status})
	for k, fields := range r.ErrorDetails {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 || i >= len(evs) {
			return all(len(evs), permanent(resp))
		}
		dup := len(fields) == 1 && len(fields["transaction_id"]) == 1 && fields["transaction_id"][0] == "value_already_exist"
		if dup {
			out[i] = outcome{fate: fateDuplicate, status: resp.status}
		} else {
			detail, _ := json.Marshal(fields)
			out[i] = outcome{fate: fatePermanent, status: resp.status, body: string(detail), err: fmt.Errorf("HTTP 422")}
		}
	}
	return out
}

// ---- Orb: /v1/ingest (debug mode reports duplicates and ingested keys).

type orb struct {
	httpBackend
	url string
}

func (b *orb) maxBatch() int { return orbMaxBatch }

type orbEvent struct {
	IdempotencyKey     string                 `json:"idempotency_key"`
	ExternalCustomerID string                 `json:"external_customer_id"`
	EventName          string                 `json:"event_name"`
	Timestamp          string                 `json:"timestamp"`
	Properties         map[string]json.Number `json:"properties"`
}

func (b *orb) send(ctx context.Context, evs []*event) []outcome {
	body := struct {
		Events []orbEvent `json:"events"`
	}{Events: make([]orbEvent, len(evs))}
	for i, e := range evs {
		// Orb aggregates numeric properties; a JSON number literal written
		// from the decimal text is exact on the wire.
		body.Events[i] = orbEvent{IdempotencyKey: e.key, ExternalCustomerID: e.customer, EventName: e.meter,
			Timestamp: e.time.UTC().Format(time.RFC3339Nano), Properties: map[string]json.Number{valueProperty: json.Number(e.valueText())}}
	}
	buf, _ := json.Marshal(&body)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/json", buf, nil, false)
	if out != nil {
		return out
	}
	var r struct {
		ValidationFailed []struct {
			IdempotencyKey   string   `json:"idempotency_key"`
			ValidationErrors []string `json:"validation_errors"`
		} `json:"validation_failed"`
		Debug *struct {
			Duplicate []string `json:"duplicate"`
		} `json:"debug"`
	}
	if err := json.Unmarshal(resp.body, &r); err != nil {
		// The events are ingested (2xx) even if we cannot read the details.
		return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
	}
	pos := make(map[string]int, len(evs))
	for i, e := range evs {
		pos[e.key] = i
	}
	out = all(len(evs), outcome{fate: fateDelivered, status: resp.status})
	if r.Debug != nil {
		for _, k := range r.Debug.Duplicate {
			if i, ok := pos[k]; ok {
				out[i] = outcome{fate: fateDuplicate, status: resp.status}
			}
		}
	}
	for _, f := range r.ValidationFailed {
		if i, ok := pos[f.IdempotencyKey]; ok {
			out[i] = outcome{fate: fatePermanent, status: resp.status, body: strings.Join(f.ValidationErrors, "; "), err: fmt.Errorf("validation failed")}
		}
	}
	return out
}

// ---- Metronome: /v1/ingest, an array of up to 100 events.

type metronome struct {
	httpBackend
	url string
}

func (b *metronome) maxBatch() int { return metronomeMaxBatch }

type metronomeEvent struct {
	TransactionID string            `json:"transaction_id"`
	CustomerID    string            `json:"customer_id"`
	EventType     string            `json:"event_type"`
	Timestamp     string            `json:"timestamp"`
	Properties    map[string]string `json:"properties"`
}

func (b *metronome) send(ctx context.Context, evs []*event) []outcome {
	batch := make([]metronomeEvent, len(evs))
	for i, e := range evs {
		// Property values as strings: Metronome parses numeric strings as
		// exact decimals, a JSON float could be rounded on the way.
		batch[i] = metronomeEvent{TransactionID: e.key, CustomerID: e.customer, EventType: e.meter,
			Timestamp: e.time.UTC().Format(time.RFC3339Nano), Properties: dataWithValue(e)}
	}
	buf, _ := json.Marshal(batch)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/json", buf, nil, false)
	if out != nil {
		return out
	}
	return all(len(evs), outcome{fate: fateDelivered, status: resp.status})
}

// ---- Webhook: signed JSON batches for in-house billing.

type webhook struct {
	httpBackend
	url    string
	secret string
}

func (b *webhook) maxBatch() int { return webhookMaxBatch }

// WebhookEvent is one event of a webhook batch ({"events": [...]}).
type WebhookEvent struct {
	ID         string            `json:"id"` // idempotency key: dedupe on it
	EventName  string            `json:"event_name"`
	Customer   string            `json:"customer"`
	Tenant     string            `json:"tenant"`
	Timestamp  string            `json:"timestamp"` // RFC 3339
	Value      string            `json:"value"`     // exact decimal text
	Properties map[string]string `json:"properties,omitempty"`
	EventIDs   []string          `json:"event_ids"` // usage record event ids summed in this event
}

// WebhookResponse is the optional answer body of a receiver: ids it already
// had and ids it refuses (with a reason). Missing ids are accepted.
type WebhookResponse struct {
	Duplicate []string          `json:"duplicate,omitempty"`
	Rejected  map[string]string `json:"rejected,omitempty"`
}

func (b *webhook) send(ctx context.Context, evs []*event) []outcome {
	body := struct {
		Events []WebhookEvent `json:"events"`
	}{Events: make([]WebhookEvent, len(evs))}
	for i, e := range evs {
		body.Events[i] = WebhookEvent{ID: e.key, EventName: e.meter, Customer: e.customer, Tenant: e.tenant,
			Timestamp: e.time.UTC().Format(time.RFC3339Nano), Value: e.valueText(), Properties: e.props, EventIDs: e.ids}
	}
	buf, _ := json.Marshal(&body)
	sig := SignWebhook(b.secret, b.now(), buf)
	out, resp := b.exchange(ctx, len(evs), b.url, "application/json", buf, map[string]string{WebhookSignatureHeader: sig}, false)
	if out != nil {
		return out
	}
	out = all(len(evs), outcome{fate: fateDelivered, status: resp.status})
	var r WebhookResponse
	if len(resp.body) == 0 || json.Unmarshal(resp.body, &r) != nil {
		return out
	}
	pos := make(map[string]int, len(evs))
	for i, e := range evs {
		pos[e.key] = i
	}
	for _, k := range r.Duplicate {
		if i, ok := pos[k]; ok {
			out[i] = outcome{fate: fateDuplicate, status: resp.status}
		}
	}
	for k, reason := range r.Rejected {
		if i, ok := pos[k]; ok {
			out[i] = outcome{fate: fatePermanent, status: resp.status, body: reason, err: fmt.Errorf("rejected by receiver")}
		}
	}
	return out
}

// newBackend builds the configured backend over client.
func newBackend(cfg *Config, client *http.Client, now func() time.Time) backend {
	h := httpBackend{client: client, apiKey: string(cfg.APIKey), now: now}
	base := strings.TrimRight(cfg.ClientConfig.Endpoint, "/")
	def := func(d string) string {
		if base == "" {
			return d
		}
		return base
	}
	switch cfg.Backend {
	case BackendStripe:
		api := def("https://api.stripe.com")
		if cfg.Stripe.API == "v2" {
			stream := strings.TrimRight(cfg.Stripe.StreamEndpoint, "/")
			if stream == "" {
				stream = "https://meter-events.stripe.com"
			}
			return &stripeV2{httpBackend: h, sessionURL: api + "/v2/billing/meter_event_session", streamURL: stream + "/v2/billing/meter_event_stream"}
		}
		return &stripeV1{httpBackend: h, url: api + "/v1/billing/meter_events"}
	case BackendOpenMeter:
		src := cfg.OpenMeter.Source
		if src == "" {
			src = "genaimeter"
		}
		return &openMeter{httpBackend: h, url: def("https://openmeter.cloud") + "/api/v1/events", source: src}
	case BackendLago:
		return &lago{httpBackend: h, url: def("https://api.getlago.com") + "/api/v1/events/batch"}
	case BackendOrb:
		return &orb{httpBackend: h, url: def("https://api.withorb.com") + "/v1/ingest?debug=true"}
	case BackendMetronome:
		return &metronome{httpBackend: h, url: def("https://api.metronome.com") + "/v1/ingest"}
	default:
		return &webhook{httpBackend: h, url: cfg.ClientConfig.Endpoint, secret: string(cfg.Webhook.Secret)}
	}
}

// unixMillisText is Unix seconds with three decimals, built from integers.
func unixMillisText(t time.Time) string {
	ms := t.UnixMilli()
	return fmt.Sprintf("%d.%03d", ms/1000, ms%1000)
}
