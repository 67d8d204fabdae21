// Package alerts delivers the alerts the balances fire (package balances'
// outbox, genaimeter_alerts) to a signed webhook: one POST per alert,
// signed like the billing webhook (pkg/webhooksig), retried with
// exponential backoff or the receiver's Retry-After, and dead-lettered with
// the reason when the receiver refuses it or the attempts run out.
//
// Exactly once: an alert row exists once (the ledger transaction that
// crossed the threshold inserted it); a sender claims it with a lease
// before posting and marks it delivered after, so senders in several
// collectors sharing a ledger, and a restarted one, do not post it again. A
// sender that dies between the receiver's 2xx and its mark leaves the claim
// to lapse and the alert is posted again: the body's id is the receiver's
// dedupe key for that one case.
package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/deadletter"
	"github.com/genaimeter/genaimeter/pkg/webhooksig"
)

// IDHeader carries the alert's id (also in the body), for receivers that
// dedupe on headers.
const IDHeader = "Genaimeter-Alert-Id"

// Outbox is where the sender finds alerts and records their fate
// (*balances.Ledger).
type Outbox interface {
	ClaimAlerts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]balances.Alert, error)
	AlertDelivered(ctx context.Context, id string, at time.Time) error
	AlertRetryAt(ctx context.Context, id string, next time.Time) error
	AlertDead(ctx context.Context, id, reason string) error
}

// Webhook is the sender's configuration.
type Webhook struct {
	Endpoint string
	Secret   string
	// MaxAttempts is how many posts an alert gets before it is dead-lettered.
	MaxAttempts int
	// InitialBackoff doubles per attempt up to MaxBackoff; a Retry-After
	// longer than that is honoured.
	InitialBackoff, MaxBackoff time.Duration
	// Lease is how long a claim keeps other senders off an alert: longer
	// than a post can take.
	Lease   time.Duration
	Timeout time.Duration
}

// Payload is the body of one webhook post.
type Payload struct {
	Alert balances.Alert `json:"alert"`
}

// Fate of one post.
const (
	Delivered = "delivered"
	Retried   = "retried"
	Dead      = "dead_lettered"
)

// Sender posts the outbox's due alerts.
type Sender struct {
	cfg    Webhook
	outbox Outbox
	client *http.Client
	dead   *deadletter.File // nil: the reason is kept in the ledger only
	now    func() time.Time
	// Observe is told each post's fate (telemetry, logs); may be nil.
	Observe func(a balances.Alert, fate, reason string)
}

// NewSender returns a sender; dead may be nil.
func NewSender(cfg Webhook, outbox Outbox, client *http.Client, dead *deadletter.File) *Sender {
	if client == nil {
		client = &http.Client{Timeout: cfg.Timeout}
	}
	return &Sender{cfg: cfg, outbox: outbox, client: client, dead: dead, now: time.Now}
}

// Deliver posts every alert due now, one claim of up to 100 at a time, and
// returns how many met each fate.
func (s *Sender) Deliver(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	for {
		claimed, err := s.outbox.ClaimAlerts(ctx, s.now(), s.cfg.Lease, 100)
		if err != nil {
			return out, err
		}
		for _, a := range claimed {
			fate, err := s.post(ctx, a)
			if err != nil {
				return out, err
			}
			out[fate]++
		}
		if len(claimed) < 100 {
			return out, nil
		}
	}
}

// Run delivers every interval until ctx ends; errors go to onErr.
func (s *Sender) Run(ctx context.Context, interval time.Duration, onErr func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Deliver(ctx); err != nil && ctx.Err() == nil && onErr != nil {
			onErr(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// post sends one claimed alert and records its fate in the outbox.
func (s *Sender) post(ctx context.Context, a balances.Alert) (string, error) {
	body, err := json.Marshal(Payload{Alert: a})
	if err != nil {
		return "", err
	}
	status, retryAfter, msg := s.send(ctx, a.ID, body)
	now := s.now()
	var fate, reason string
	switch {
	case status >= 200 && status < 300:
		fate = Delivered
		err = s.outbox.AlertDelivered(ctx, a.ID, now)
	case status == 0 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout || status >= 500:
		reason = msg
		if a.Attempts >= s.cfg.MaxAttempts {
			fate, reason = Dead, fmt.Sprintf("%s (after %d attempts)", msg, a.Attempts)
			err = s.deadLetter(ctx, a, reason)
		} else {
			fate = Retried
			err = s.outbox.AlertRetryAt(ctx, a.ID, now.Add(max(s.backoff(a.Attempts), retryAfter)))
		}
	default: // the receiver refuses it: retrying will not help
		fate, reason = Dead, msg
		err = s.deadLetter(ctx, a, reason)
	}
	if err != nil {
		return "", fmt.Errorf("alerts: %s: %w", a.ID, err)
	}
	if s.Observe != nil {
		s.Observe(a, fate, reason)
	}
	return fate, nil
}

// send posts body and returns the status (0: no response), the
// Retry-After it asked for and a reason for a failure.
func (s *Sender) send(ctx context.Context, id string, body []byte) (int, time.Duration, string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	// Signed at the wall-clock time of the post, as receivers check it.
	req.Header.Set(webhooksig.Header, webhooksig.Sign(s.cfg.Secret, time.Now(), body))
	req.Header.Set(IDHeader, id)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, 0, "post: " + err.Error()
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	msg := fmt.Sprintf("http %d", resp.StatusCode)
	if len(bytes.TrimSpace(snippet)) > 0 {
		msg += ": " + string(bytes.TrimSpace(snippet))
	}
	return resp.StatusCode, retryAfter(resp.Header.Get("Retry-After"), s.now()), msg
}

// retryAfter reads a Retry-After of seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait after the n-th failed attempt.
func (s *Sender) backoff(n int) time.Duration {
	d := s.cfg.InitialBackoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// deadLetter records the reason in the ledger and a line in the dead-letter
// file (the whole alert, to replay by hand).
func (s *Sender) deadLetter(ctx context.Context, a balances.Alert, reason string) error {
	if s.dead != nil {
		line, err := json.Marshal(struct {
			Reason string         `json:"reason"`
			Alert  balances.Alert `json:"alert"`
		}{reason, a})
		if err != nil {
			return err
		}
		if err := s.dead.Append(append(line, '\n')); err != nil {
			return err
		}
	}
	return s.outbox.AlertDead(ctx, a.ID, reason)
}
