package genaibillingexporter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// fate is what became of one event in one request.
type fate uint8

const (
	fateDelivered fate = iota // 2xx: the backend has it
	fateDuplicate             // the backend already had it (deduped on the key): delivered
	fateRetry                 // transient failure (429, 5xx, timeout, reset): retry later
	fateResend                // not processed only because another event of the batch was refused: resend now
	fatePermanent             // refused (4xx): dead-letter
)

type outcome struct {
	fate       fate
	status     int
	body       string
	err        error
	retryAfter time.Duration
}

// backend sends one batch (at most maxBatch events) and tells the fate of
// each event, in order.
type backend interface {
	maxBatch() int
	send(ctx context.Context, evs []*event) []outcome
}

// maxBodyInDeadLetter bounds the response body kept per dead letter.
const maxBodyInDeadLetter = 4096

// httpBackend holds what every backend shares: the client, the key, and the
// HTTP status classification.
type httpBackend struct {
	client *http.Client
	apiKey string
	now    func() time.Time
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (h *httpBackend) do(ctx context.Context, url, contentType string, body []byte, hdr map[string]string) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if h.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+h.apiKey)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		// A cut-off answer (connection reset mid-body) says nothing reliable
		// about which events landed: retry them all, the keys dedupe.
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transient classifies a failed exchange: a transport error, 408, 429 or any
// 5xx is retried (honouring Retry-After); ok is false for the others.
func transient(resp *response, err error, now time.Time) (outcome, bool) {
	if err != nil {
		return outcome{fate: fateRetry, err: err}, true
	}
	if resp.status == http.StatusTooManyRequests || resp.status == http.StatusRequestTimeout || resp.status >= 500 {
		return outcome{fate: fateRetry, status: resp.status, body: clip(resp.body),
			err:        fmt.Errorf("HTTP %d", resp.status),
			retryAfter: retryAfter(resp.header.Get("Retry-After"), now)}, true
	}
	return outcome{}, false
}

func permanent(resp *response) outcome {
	return outcome{fate: fatePermanent, status: resp.status, body: clip(resp.body), err: fmt.Errorf("HTTP %d", resp.status)}
}

func clip(b []byte) string {
	if len(b) > maxBodyInDeadLetter {
		return string(b[:maxBodyInDeadLetter]) + "…"
	}
	return string(b)
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func all(n int, o outcome) []outcome {
	out := make([]outcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// exchange posts body and returns the per-event outcomes when the answer is
// the same for the whole batch (transport error, transient or other non-2xx
// status), or nil with the response when the batch got a 2xx (or a 4xx the
// backend wants to read itself when inspect4xx is set).
func (h *httpBackend) exchange(ctx context.Context, n int, url, contentType string, body []byte, hdr map[string]string, inspect4xx bool) ([]outcome, *response) {
	resp, err := h.do(ctx, url, contentType, body, hdr)
	if o, ok := transient(resp, err, h.now()); ok {
		return all(n, o), nil
	}
	if resp.status >= 200 && resp.status < 300 {
		return nil, resp
	}
	if inspect4xx {
		return nil, resp
	}
	return all(n, permanent(resp)), nil
}

// valueProperty is the payload/property key of the value in every backend
// (Stripe's default value_settings.event_payload_key; the Lago, Orb,
// Metronome and OpenMeter metrics aggregate the "value" property).
const valueProperty = "value"

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
	case backendStripe:
		api := def("https://api.stripe.com")
		if cfg.Stripe.API == "v2" {
			stream := strings.TrimRight(cfg.Stripe.StreamEndpoint, "/")
			if stream == "" {
				stream = "https://meter-events.stripe.com"
			}
			return &stripeV2{httpBackend: h, sessionURL: api + "/v2/billing/meter_event_session", streamURL: stream + "/v2/billing/meter_event_stream"}
		}
		return &stripeV1{httpBackend: h, url: api + "/v1/billing/meter_events"}
	case backendOpenMeter:
		src := cfg.OpenMeter.Source
		if src == "" {
			src = "genaimeter"
		}
		return &openMeter{httpBackend: h, url: def("https://openmeter.cloud") + "/api/v1/events", source: src}
	case backendLago:
		return &lago{httpBackend: h, url: def("https://api.getlago.com") + "/api/v1/events/batch"}
	case backendOrb:
		return &orb{httpBackend: h, url: def("https://api.withorb.com") + "/v1/ingest?debug=true"}
	case backendMetronome:
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
