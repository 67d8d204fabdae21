package genaicostprocessor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const sdkScope = "com.anthropic.sdk.typescript"

// selfTraceCapture reads a capture of OpenLIT's Anthropic instrumentation
// over @anthropic-ai/sdk 1.15.0, which traces itself: per call, the OpenLIT
// span and, as its child, the SDK's own span, under the app's root span.
func selfTraceCapture(t *testing.T, name string) ptrace.Traces {
	t.Helper()
	return readOTLPJSONLines(t, filepath.Join("..", "..", "testdata", "realclients", "openlit-anthropic-"+name+".otlp.jsonl"))
}

// onlyScopes is a copy of td with only the spans whose scope keep says so
// (the app's root span goes with keepRoot).
func onlyScopes(td ptrace.Traces, keep func(scope string) bool) ptrace.Traces {
	out := ptrace.NewTraces()
	td.CopyTo(out)
	out.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return !keep(ss.Scope().Name()) })
		return rs.ScopeSpans().Len() == 0
	})
	return out
}

func isSDK(s string) bool     { return s == sdkScope }
func isOpenLIT(s string) bool { return s == "@openlit/instrumentation-anthropic" }
func isApp(s string) bool     { return s == "app" }

// meteredSpans are the spans the sink saw with a pricing status, by scope,
// and how many times each span id went through.
func meteredSpans(t *testing.T, traces []ptrace.Traces) (map[string][]map[string]any, int) {
	t.Helper()
	got := map[string][]map[string]any{}
	seen := map[string]int{}
	total := 0
	for _, td := range traces {
		eachSpan(td, func(scope string, s ptrace.Span) {
			seen[s.SpanID().String()]++
			total++
			if _, metered := s.Attributes().Get("genaimeter.pricing_status"); metered {
				got[scope] = append(got[scope], s.Attributes().AsRaw())
			}
		})
	}
	for id, k := range seen {
		assert.Equal(t, 1, k, "span %s went on %d times", id, k)
	}
	return got, total
}

// TestSelfTracedSDKUnderInstrumentationMeteredOnce: with the SDK's own span
// and the instrumentation span around it, each call is metered exactly once,
// from the SDK span, whatever the order and batches they come in; the other
// span goes on unmetered. Both the immediate path (wait 0) and the holding
// path (the app's root span, which ends last, completes the ancestry) are run.
//
// claude-sonnet-4-5 per million: input $3, output $15, cache read $0.30,
// cache write $3.75 (5 minutes), $6 (1 hour). The SDK span carries the
// 500/1500 split: 3000 × 3 + 2000 × 0.30 + 500 × 3.75 + 1500 × 6 + 600 × 15 =
// 9000 + 600 + 1875 + 9000 + 9000 = 29475 µ$. (OpenLIT's span would price
// the 2000 written at the 5-minute rate, 26100 µ$, and a stream at 601
// output tokens.) The second call of the usage capture (thinking, no cache):
// 1200 × 3 + 900 × 15 = 17100 µ$. The stopped stream's SDK span has input
// and cache but no output: 9000 + 600 + 1875 + 9000 = 20475 µ$.
func TestSelfTracedSDKUnderInstrumentationMeteredOnce(t *testing.T) {
	captures := map[string][]string{
		"usage":          {"0.029475", "0.0171"},
		"stream":         {"0.029475"},
		"stream-stopped": {"0.020475"},
	}
	// What the OpenLIT span is priced at when it was metered before its SDK
	// child came: the 2000 written at the 5-minute rate, 9000 + 600 + 7500 +
	// 600 × 15 = 26100 µ$; its stream says 601 output (+15 µ$); its stopped
	// stream 1 output: 9000 + 600 + 7500 + 15 = 17115 µ$.
	parentCosts := map[string][]string{
		"usage":          {"0.0261", "0.0171"},
		"stream":         {"0.026115"},
		"stream-stopped": {"0.017115"},
	}
	orders := map[string]func(td ptrace.Traces) []ptrace.Traces{
		// As exported: the SDK span (child) first, the OpenLIT span, the app span.
		"same batch": func(td ptrace.Traces) []ptrace.Traces { return []ptrace.Traces{td} },
		// The parent walked before its child within one batch.
		"same batch, parent first": func(td ptrace.Traces) []ptrace.Traces {
			all := onlyScopes(td, func(string) bool { return true })
			rs := all.ResourceSpans().At(0).ScopeSpans()
			rs.Sort(func(a, b ptrace.ScopeSpans) bool { return !isSDK(a.Scope().Name()) && isSDK(b.Scope().Name()) })
			return []ptrace.Traces{all}
		},
		"child first, separate batches": func(td ptrace.Traces) []ptrace.Traces {
			return []ptrace.Traces{onlyScopes(td, isSDK), onlyScopes(td, isOpenLIT), onlyScopes(td, isApp)}
		},
		"parent first, separate batches": func(td ptrace.Traces) []ptrace.Traces {
			return []ptrace.Traces{onlyScopes(td, isOpenLIT), onlyScopes(td, isSDK), onlyScopes(td, isApp)}
		},
		"root first, then parent, then child": func(td ptrace.Traces) []ptrace.Traces {
			return []ptrace.Traces{onlyScopes(td, isApp), onlyScopes(td, isOpenLIT), onlyScopes(td, isSDK)}
		},
	}
	for name, costs := range captures {
		for order, split := range orders {
			for _, wait := range []time.Duration{0, time.Hour} {
				t.Run(name+"/"+order+"/wait="+wait.String(), func(t *testing.T) {
					tel := componenttest.NewTelemetry()
					t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
					p, tp, sink, clock := newHoldingProcessor(t, tel, func(c *Config) { c.Attribution.Ancestors.Wait = wait })
					clock.t = time.Unix(0, 1796134900000000000) // the capture's day
					ctx := context.Background()
					in := selfTraceCapture(t, name)
					spans := in.SpanCount()
					for _, b := range split(in) {
						require.NoError(t, tp.ConsumeTraces(ctx, b))
					}
					clock.advance(2 * time.Hour)
					p.releaseExpired(ctx)
					require.NoError(t, tp.Shutdown(ctx))
					got, total := meteredSpans(t, sink.AllTraces())
					assert.Equal(t, spans, total, "every span goes on")
					var gotCosts []any
					for _, a := range got[sdkScope] {
						gotCosts = append(gotCosts, a["genaimeter.cost_usd"])
					}
					var openlit []any
					for _, a := range got["@openlit/instrumentation-anthropic"] {
						openlit = append(openlit, a["genaimeter.cost_usd"])
					}
					// The OpenLIT span is metered before its SDK child comes
					// when it comes first and needs no wait (wait 0), or its
					// root came before it: its record stands, the child goes
					// on unmetered. Still one record per call.
					if (order == "parent first, separate batches" && wait == 0) || order == "root first, then parent, then child" {
						assert.Empty(t, got[sdkScope])
						assert.ElementsMatch(t, toAny(parentCosts[name]), openlit)
						return
					}
					assert.Empty(t, openlit, "the instrumentation span is not metered")
					assert.ElementsMatch(t, toAny(costs), gotCosts)
				})
			}
		}
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// TestLoneSelfTracedOrInstrumentationSpanMetered: without its counterpart,
// each span is metered as any call — the SDK span traced without an
// instrumentation, the instrumentation span over SDK 0.x — and with wait 0
// nothing is held.
func TestLoneSelfTracedOrInstrumentationSpanMetered(t *testing.T) {
	for scope, keep := range map[string]func(string) bool{
		sdkScope:                             func(s string) bool { return isSDK(s) || isApp(s) },
		"@openlit/instrumentation-anthropic": func(s string) bool { return isOpenLIT(s) || isApp(s) },
	} {
		t.Run(scope, func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			_, tp, sink, clock := newHoldingProcessor(t, tel, func(c *Config) { c.Attribution.Ancestors.Wait = 0 })
			clock.t = time.Unix(0, 1796134900000000000)
			in := onlyScopes(selfTraceCapture(t, "usage"), keep)
			require.NoError(t, tp.ConsumeTraces(context.Background(), in))
			require.NoError(t, tp.Shutdown(context.Background()))
			got, _ := meteredSpans(t, sink.AllTraces())
			require.Len(t, got[scope], 2, "both calls metered")
			want := map[string][]any{
				// The SDK span: the 1h split priced at its rate (see above).
				sdkScope: {"0.029475", "0.0171"},
				// OpenLIT: 2000 written at the 5-minute rate: 9000 + 600 +
				// 7500 + 9000 = 26100 µ$.
				"@openlit/instrumentation-anthropic": {"0.0261", "0.0171"},
			}[scope]
			var costs []any
			for _, a := range got[scope] {
				costs = append(costs, a["genaimeter.cost_usd"])
				assert.Equal(t, "priced", a["genaimeter.pricing_status"])
			}
			assert.ElementsMatch(t, want, costs)
		})
	}
}

// TestHeldSelfTracedPairSurvivesACrash: the OpenLIT span and its SDK child,
// both held in storage waiting for the app's root span when the collector
// dies, are held again by the next process; when let go there, only the SDK
// span is metered (the restored SDK span marks its parent again).
func TestHeldSelfTracedPairSurvivesACrash(t *testing.T) {
	ctx := context.Background()
	tel1 := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel1.Shutdown(context.Background())) })
	st := newMemStorage()
	p1, tp1, _, _ := newStoringProcessor(t, tel1, st, time.Hour)
	in := selfTraceCapture(t, "stream")
	// The parent first, so that after the restore it is the first let go.
	require.NoError(t, tp1.ConsumeTraces(ctx, onlyScopes(in, isOpenLIT)))
	require.NoError(t, tp1.ConsumeTraces(ctx, onlyScopes(in, isSDK)))
	assert.Equal(t, 2, p1.held.Len())
	disk := st.snapshot()
	require.NoError(t, tp1.Shutdown(ctx))

	tel2 := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel2.Shutdown(context.Background())) })
	p2, tp2, sink2, _ := newStoringProcessor(t, tel2, disk, time.Hour)
	assert.Equal(t, 2, p2.held.Len())
	// Shutdown lets them go (the test clock is a month before the capture:
	// the record is invalid_usage, a record all the same).
	require.NoError(t, tp2.Shutdown(ctx))
	got, total := meteredSpans(t, sink2.AllTraces())
	assert.Equal(t, 2, total, "both spans go on")
	assert.Len(t, got[sdkScope], 1, "the SDK span is the call's record")
	assert.Empty(t, got["@openlit/instrumentation-anthropic"])
}
