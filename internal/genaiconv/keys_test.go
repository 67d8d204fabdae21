package genaiconv

import (
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// TestKeyTable: the perfect hash finds every name of sources with its
// source, and no other name: not the names one byte away from them, nor
// their prefixes, extensions or other spellings.
func TestKeyTable(t *testing.T) {
	if len(keys.entries) != len(sources) {
		t.Fatalf("%d entries for %d names", len(keys.entries), len(sources))
	}
	check := func(k string) {
		t.Helper()
		want, wantOK := sources[k]
		var got source
		src := keys.find(k)
		if src != nil {
			got = *src
		}
		if (src != nil) != wantOK || got != want {
			t.Fatalf("find(%q) = %+v, %v; sources has %+v, %v", k, got, src != nil, want, wantOK)
		}
		wantGenAI := wantOK && want.genai || !wantOK && strings.HasPrefix(k, aggregatedUsagePrefix)
		if genaiKey(k) != wantGenAI {
			t.Fatalf("genaiKey(%q) = %v, want %v", k, !wantGenAI, wantGenAI)
		}
	}
	n := 0
	for k := range sources {
		check(k)
		check(strings.ToUpper(k))
		check(k + "s")
		check("x" + k)
		check(aggregatedUsagePrefix + k)
		for i := 1; i < len(k); i++ {
			check(k[:i])
		}
		for i := range len(k) {
			for _, c := range []byte{'.', '_', 'x', k[i] ^ 0x20} {
				check(k[:i] + string(c) + k[i+1:])
				n++
			}
		}
	}
	for _, k := range []string{"", "g", "gen_ai.", aggregatedUsagePrefix, aggregatedUsagePrefix + "input_tokens",
		"gen_ai.response.id", "gen_ai.request.max_tokens", "http.request.method", "db.query.text", "server.port"} {
		check(k)
	}
	t.Logf("%d names, %d near misses; seed %#x", len(sources), n, keys.seed)
}

// TestGenAISignal: the early rejection keeps every span the scan would call
// GenAI (every dialect's calls, wrappers and agent spans in the real-client
// captures) and rejects the spans of the rest of a pipeline (SQL, redis,
// HTTP, messaging, gRPC, internal spans).
func TestGenAISignal(t *testing.T) {
	scanGenAI := func(attrs pcommon.Map) bool {
		var s scan
		attrs.Range(s.refVisit)
		return s.genai
	}
	kept := map[string]int{} // per capture, spans that are not NotGenAI
	for file, tds := range readFixtures(t) {
		for _, td := range tds {
			rss := td.ResourceSpans()
			for i := 0; i < rss.Len(); i++ {
				sss := rss.At(i).ScopeSpans()
				for j := 0; j < sss.Len(); j++ {
					for k := 0; k < sss.At(j).Spans().Len(); k++ {
						span := sss.At(j).Spans().At(k)
						got, want := hasGenAISignal(span.Attributes()), scanGenAI(span.Attributes())
						if got != want {
							t.Errorf("%s: span %q: hasGenAISignal %v, the scan says %v", file, span.Name(), got, want)
						}
						if _, kind, _ := refExtract(span, ScopeOf(sss.At(j).Scope()), nil); kind != NotGenAI {
							if !got {
								t.Errorf("%s: %v span %q rejected", file, kind, span.Name())
							}
							kept[file]++
						}
					}
				}
			}
		}
	}
	for file := range readFixtures(t) {
		if kept[file] == 0 {
			t.Errorf("%s: no GenAI span", file)
		}
	}
	spans, _ := buildSpans(t, plainProtos, len(plainProtos))
	for _, s := range spans {
		if hasGenAISignal(s.Attributes()) {
			t.Errorf("span %q not rejected", s.Name())
		}
	}
	spans, _ = buildSpans(t, append(llmProtos(), benchProtos...), 2*len(benchProtos))
	for _, s := range spans {
		if hasGenAISignal(s.Attributes()) != scanGenAI(s.Attributes()) {
			t.Errorf("span %q: hasGenAISignal differs from the scan", s.Name())
		}
	}
}
