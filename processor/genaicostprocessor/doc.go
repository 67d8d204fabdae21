// Package genaicostprocessor recognizes LLM calls in trace spans, attributes
// each to a tenant and user, prices it from a price catalog and writes the
// result onto the span under the genaimeter.* attributes. It decides; the
// genai_usage connector turns its decisions into usage records.
package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml
