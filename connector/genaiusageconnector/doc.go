// Package genaiusageconnector turns the LLM calls that the genai_cost processor
// metered into usage records: one log record per call, carrying the record's
// fields as genaimeter.* attributes. It converts; it decides nothing.
package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml
