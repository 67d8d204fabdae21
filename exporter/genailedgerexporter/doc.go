//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package genailedgerexporter stores genaimeter usage records in a SQLite
// ledger: one row per metered call, keyed by its event id so that replays and
// retries never count a call twice.
package genailedgerexporter // import "github.com/genaimeter/genaimeter/exporter/genailedgerexporter"
