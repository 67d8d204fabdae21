//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package genaibillingexporter forwards genaimeter usage records to a billing
// backend (Stripe meters v1/v2, OpenMeter, Lago, Orb, Metronome, or a signed
// webhook) so that every billable call is billed exactly once: each event
// carries a deterministic idempotency key that the backend dedupes on, a record
// counts as delivered only after a 2xx for it, and everything that cannot be
// delivered is counted and written to a dead-letter file.
package genaibillingexporter // import "github.com/genaimeter/genaimeter/exporter/genaibillingexporter"
