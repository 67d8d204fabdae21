package genaicostprocessor

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestSpanAttributesAreRecordFields checks the span form of the usage record
// against its table (usage.Fields): on the spans of real clients, every
// genaimeter.* attribute the processor writes is an OnSpan field, of its
// kind's type, and no span carries more than usage.SpanAttrs of them. The
// OnSpan fields these spans do not exercise (they need a rate card, a
// reported cost, audio...) are listed: a new field fails here until the
// processor writes it or it is listed with the reason.
func TestSpanAttributesAreRecordFields(t *testing.T) {
	notInGoldens := map[string]string{
		usage.AttrSessionID:          "no captured client sets a session",
		usage.AttrInputAudioTokens:   "no audio in the captured calls",
		usage.AttrOutputAudioTokens:  "no audio in the captured calls",
		usage.AttrCacheWrite1hTokens: "no 1h cache writes in the captured calls",
		usage.AttrReportedCostUSD:    "no captured client reports a cost",
		usage.AttrRevenueUSD:         "needs a rate card (pricing_test.go)",
		usage.AttrCredits:            "needs a rate card in credits (credits_test.go)",
		usage.AttrServiceTier:        "no captured call names a tier",
		usage.AttrPlan:               "needs billing.plans (billing_test.go)",
	}
	seen := map[string]bool{}
	for _, name := range realClients {
		in := readOTLPJSONLines(t, filepath.Join("..", "..", "testdata", "realclients", name+".otlp.jsonl"))
		p, sink := newTestProcessor(t, createDefaultConfig().(*Config), nil)
		require.NoError(t, p.ConsumeTraces(context.Background(), in))
		for _, td := range sink.AllTraces() {
			for _, rs := range td.ResourceSpans().All() {
				for _, ss := range rs.ScopeSpans().All() {
					for _, span := range ss.Spans().All() {
						n := 0
						span.Attributes().Range(func(k string, v pcommon.Value) bool {
							if len(k) < len(usage.Prefix) || k[:len(usage.Prefix)] != usage.Prefix {
								return true
							}
							n++
							seen[k] = true
							f, ok := usage.FieldByKey(k)
							if !assert.True(t, ok, "%s: %s is no field of the record", name, k) {
								return true
							}
							assert.True(t, f.OnSpan, "%s: %s is not a span field", name, k)
							var r usage.Record
							m := pcommon.NewMap()
							v.CopyTo(m.PutEmpty(k))
							_, err := r.SetFromAttributes(m)
							assert.NoError(t, err, "%s: %s", name, k)
							return true
						})
						assert.LessOrEqual(t, n, usage.SpanAttrs, "%s: span %s", name, span.Name())
					}
				}
			}
		}
	}
	for _, f := range usage.Fields() {
		if !f.OnSpan {
			continue
		}
		_, listed := notInGoldens[f.Key]
		assert.True(t, seen[f.Key] != listed, "%s: written on the golden spans: %v, listed as not: %v", f.Key, seen[f.Key], listed)
	}
}
