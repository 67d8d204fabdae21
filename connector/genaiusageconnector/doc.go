// Package genaiusageconnector turns the LLM calls that the genai_cost processor
// metered into usage data, in two flavours of one connector type:
//
//   - traces→logs: one usage log record per call, carrying the record's fields
//     as genaimeter.* attributes. It converts; it decides nothing.
//   - traces→metrics: sums of calls, tokens per bucket, cost and revenue by
//     tenant, provider, model, operation, feature, billable, pricing status and
//     plan (configurable), with bounded cardinality (idle cumulative series
//     expire and free their slot) and exemplars.
//
// Both suppress a call whose event id (trace id + span id) they saw inside a
// bounded duplicate window, so that an exporter retry is not counted twice.
// Each flavour keeps its own window: both must see every call once, so a
// shared set would need a mark per flavour and the cross-instance plumbing of a
// shared component, for a saving of one bounded set.
package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml
