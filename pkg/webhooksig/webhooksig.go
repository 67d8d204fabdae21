// Package webhooksig signs and verifies genaimeter's webhooks: the billing
// exporter's webhook back end and the usage alerts share it, so a receiver
// imports one Verify for both.
//
// The header is Genaimeter-Signature: t=<unix seconds>,v1=<hex
// HMAC-SHA256(secret, "<t>.<body>")>. The receiver recomputes the MAC with
// the shared secret, compares in constant time, and rejects a t outside its
// replay window (we recommend Tolerance, 5 minutes).
package webhooksig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

const (
	// Header is the HTTP header that carries the signature.
	Header = "Genaimeter-Signature"
	// Tolerance is the replay window we recommend to receivers.
	Tolerance = 5 * time.Minute
)

// Sign returns the signature header value for body at time t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	ErrSignature = errors.New("webhook signature mismatch")
	ErrReplay    = errors.New("webhook timestamp outside the replay window")
	ErrHeader    = errors.New("webhook signature header malformed")
)

// Verify checks a signature header as a receiver must: the MAC over
// "<t>.<body>" and t within tolerance of now (both directions), so that a
// captured request cannot be replayed later. Receivers still dedupe on the
// ids in the body: a legitimate retry is a new request with a new t.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
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
		return ErrHeader
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrReplay
	}
	return nil
}
