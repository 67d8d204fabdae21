package genaibillingexporter

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
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

// Webhook signature. The receiver recomputes the HMAC over "<t>.<body>" with
// the shared secret, compares in constant time, and rejects a t outside its
// replay window (we recommend 5 minutes: WebhookTolerance).
const (
	WebhookSignatureHeader = "Genaimeter-Signature"
	WebhookTolerance       = 5 * time.Minute
)

// SignWebhook returns the signature header value for body at time t.
func SignWebhook(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of VerifyWebhook.
var (
	ErrWebhookSignature = errors.New("webhook signature mismatch")
	ErrWebhookReplay    = errors.New("webhook timestamp outside the replay window")
	ErrWebhookHeader    = errors.New("webhook signature header malformed")
)

// VerifyWebhook checks a signature header as a receiver must: the MAC over
// "<t>.<body>" and t within tolerance of now (both directions), so that a
// captured request cannot be replayed later. Receivers still dedupe on the
// event ids: a legitimate retry is a new request with a new t.
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return ErrWebhookHeader
	}
	want := SignWebhook(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return ErrWebhookSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrWebhookReplay
	}
	return nil
}
