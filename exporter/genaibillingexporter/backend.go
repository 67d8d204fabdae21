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

	"github.com/genaimeter/genaimeter/pkg/webhooksig"
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

// Webhook signature: package webhooksig, shared with the usage alerts so
// that receivers verify both with one function. These names stay for the
// exporter's users.
const (
	WebhookSignatureHeader = webhooksig.Header
	WebhookTolerance       = webhooksig.Tolerance
)

// SignWebhook returns the signature header value for body at time t.
func SignWebhook(secret string, t time.Time, body []byte) string {
	return webhooksig.Sign(secret, t, body)
}

// Errors of VerifyWebhook.
var (
	ErrWebhookSignature = webhooksig.ErrSignature
	ErrWebhookReplay    = webhooksig.ErrReplay
	ErrWebhookHeader    = webhooksig.ErrHeader
)

// VerifyWebhook is webhooksig.Verify.
func VerifyWebhook(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	return webhooksig.Verify(secret, header, body, now, tolerance)
}
