package genaiconv

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
)

// Convention says whether an emitter's raw count already is the semconv total.
type Convention string

const (
	// Inclusive: input includes cache reads and writes (output includes
	// reasoning), as the semconv requires.
	Inclusive Convention = "inclusive"
	// Exclusive: input excludes cache reads and writes (Anthropic and Bedrock
	// raw counts); output excludes reasoning (Gemini thoughtsTokenCount style).
	Exclusive Convention = "exclusive"
)

// Rule says how one emitter counts tokens. A rule applies to a span when its
// scope name starts with ScopePrefix ("" matches any), its scope version is
// below VersionBelow (if set; a span without a scope version does not match),
// and its normalized provider equals Provider ("" matches any). Input and
// Output are each optional: an empty one leaves that side to later rules.
// Stream says what the emitter does on streamed calls (built-in rows only; it
// is not configurable).
type Rule struct {
	ScopePrefix  string
	VersionBelow string
	Provider     string
	Input        Convention
	Output       Convention
	Stream       StreamTraits
}

// StreamTraits say how an emitter behaves on streamed calls, as seen by
// running the real package against a provider stand-in (the *-stream*.otlp.jsonl
// captures in testdata/realclients). They decide Call.Completion.
type StreamTraits uint8

const (
	// StartUsage: the emitter writes the usage of an Anthropic stream's
	// message_start event (input, cache, output 1) and the final output count
	// only from message_delta. A streamed call whose output is 0 or 1 was
	// stopped before its end; its counts are a lower bound.
	StartUsage StreamTraits = 1 << iota
	// NoFinishOnStreams: the emitter writes a finish reason on every
	// non-streamed call and none on streamed ones, so a call without one was
	// streamed (the span says so nowhere else).
	NoFinishOnStreams
	// NoFinishIsStopped: the emitter writes a finish reason on every chat call
	// that ran to its end, so a chat call without one was stopped.
	NoFinishIsStopped
	// NoStreamUsage: the emitter never reports usage on streamed calls, so a
	// streamed call without usage is not evidence of a stopped stream.
	NoStreamUsage
	// StopLooksComplete: a stopped stream carries the same signals as a
	// complete one (the emitter writes finish reason "stop" by default), so its
	// completion cannot be told.
	StopLooksComplete
	// EstimatesStreamUsage: when the provider sends no stream usage, the
	// emitter writes its own tokenizer's estimate instead of nothing.
	EstimatesStreamUsage
	numStreamTraits = iota
)

// streamTraitNames are the spellings of the traits in README.md's table.
var streamTraitNames = [numStreamTraits]string{
	"start-usage", "no-finish-on-streams", "no-finish-is-stopped",
	"no-stream-usage", "stop-looks-complete", "estimates-stream-usage",
}

// String lists the traits by their README names, separated by ", ".
func (t StreamTraits) String() string {
	var b strings.Builder
	for i, name := range streamTraitNames {
		if t&(1<<i) == 0 {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
	}
	return b.String()
}

// Conventions holds rules that take precedence over the built-in table; the
// processor builds it from its configuration. A nil *Conventions means the
// built-in table only.
type Conventions struct {
	rules []Rule
	index ruleIndex
}

// ruleIndex lets matchRules try, of a list of rules, only those that can
// match a call, in list order, and stop once none can change the result: it
// runs on every call, and most calls match one of the first rules they may.
type ruleIndex struct {
	// byFirst has bit i set for rule i when its ScopePrefix starts with the
	// byte or is empty (a rule without a prefix can match any scope).
	byFirst [256]uint64
	// noPrefix has the bits of the rules without a ScopePrefix.
	noPrefix uint64
	// all: more than 64 rules, no index; every rule is tried.
	all bool
	// lastIn and lastOut are the indexes of the last rules that set an input
	// and an output convention (-1: none). Past them, once a rule named the
	// emitter, no rule can change a resolution.
	lastIn, lastOut int
}

func indexRules(rules []Rule) ruleIndex {
	x := ruleIndex{lastIn: -1, lastOut: -1, all: len(rules) > 64}
	for i, r := range rules {
		if r.Input != "" {
			x.lastIn = i
		}
		if r.Output != "" {
			x.lastOut = i
		}
		if x.all {
			continue
		}
		if r.ScopePrefix == "" {
			x.noPrefix |= 1 << i
			for b := range x.byFirst {
				x.byFirst[b] |= 1 << i
			}
			continue
		}
		x.byFirst[r.ScopePrefix[0]] |= 1 << i
	}
	return x
}

// candidates are the rules that can match a scope name or an emitter
// signal: those whose prefix starts with the first byte of either, and those
// without a prefix.
func (x *ruleIndex) candidates(scope, signal string) uint64 {
	m := x.noPrefix
	if scope != "" {
		m |= x.byFirst[scope[0]]
	}
	if signal != "" {
		m |= x.byFirst[signal[0]]
	}
	return m
}

// NewConventions validates rules and returns them in precedence order (the
// first matching rule with a non-empty side wins that side).
func NewConventions(rules ...Rule) (*Conventions, error) {
	for i, r := range rules {
		for _, c := range []Convention{r.Input, r.Output} {
			switch c {
			case "", Inclusive, Exclusive:
			default:
				return nil, fmt.Errorf("token convention rule %d: unknown convention %q (want %q or %q)", i, c, Inclusive, Exclusive)
			}
		}
		if r.Input == "" && r.Output == "" {
			return nil, fmt.Errorf("token convention rule %d: sets neither input nor output", i)
		}
		if r.VersionBelow != "" && !validVersion(r.VersionBelow) {
			return nil, fmt.Errorf("token convention rule %d: version_below %q is not a dotted version", i, r.VersionBelow)
		}
	}
	return &Conventions{rules: append([]Rule(nil), rules...), index: indexRules(rules)}, nil
}

// builtin is the built-in emitter table: each row was verified against the
// emitter's code and, for the npm packages, by running the package against the
// provider stand-in in tools/realclients (captures in testdata/realclients).
// README.md's "Token conventions" table says the same thing with its sources
// (TestREADMEConventionTable checks they agree). Emitters not listed are read
// as inclusive (the semconv); detection catches the impossible cases, and a
// cached call on an exclusive-counting API is marked inclusive_unverified.
var builtin = []Rule{
	// JS OpenLLMetry up to 0.27.0 passes Anthropic's raw usage.input_tokens
	// through; that count excludes cache reads and writes [tl-js-anth]. Its
	// main branch adds them since [tl-js-1028], so a later version is not
	// taken as verified until it is run.
	{ScopePrefix: "@traceloop/instrumentation-anthropic", VersionBelow: "0.27.1", Provider: "anthropic", Input: Exclusive, Stream: StartUsage | NoFinishOnStreams},
	// Its Bedrock InvokeModel path passes the raw input_tokens too and writes
	// no cache counts at all [tl-js-bedrock].
	{ScopePrefix: "@traceloop/instrumentation-bedrock", VersionBelow: "0.27.1", Provider: "aws.bedrock", Input: Exclusive},
	{ScopePrefix: "@traceloop/instrumentation-openai", Provider: "openai", Input: Inclusive, Stream: NoStreamUsage | StopLooksComplete},
	{ScopePrefix: "@opentelemetry/instrumentation-openai", Provider: "openai", Input: Inclusive},
	{ScopePrefix: "@arizeai/openinference-instrumentation-openai", Provider: "openai", Input: Inclusive, Stream: NoStreamUsage | NoFinishIsStopped},
	{ScopePrefix: "@arizeai/openinference-instrumentation-anthropic", Provider: "anthropic", Input: Inclusive, Stream: StartUsage | NoFinishIsStopped},
	// The Vercel AI SDK: scope "ai" (its own telemetry up to v6 and
	// LegacyOpenTelemetry), scope "gen_ai" (v7 @ai-sdk/otel OpenTelemetry).
	{ScopePrefix: "ai", Input: Inclusive},
	{ScopePrefix: "gen_ai", Input: Inclusive, Stream: NoFinishIsStopped},
	// @anthropic-ai/sdk 1.x traces itself when a tracer provider is registered.
	{ScopePrefix: "com.anthropic.sdk", Provider: "anthropic", Input: Inclusive, Stream: StartUsage},
	// OpenLIT (Python and TypeScript) passes Anthropic's raw input_tokens
	// through [openlit-anth] [openlit-ts-anth].
	{ScopePrefix: "openlit", Provider: "anthropic", Input: Exclusive, Stream: StartUsage},
	// OpenLIT with Bedrock passes the raw Converse inputTokens, which exclude
	// cache [aws-tokenusage] (derived: same pass-through as Anthropic).
	{ScopePrefix: "openlit", Provider: "aws.bedrock", Input: Exclusive},
	{ScopePrefix: "openlit", Provider: "openai", Input: Inclusive, Stream: EstimatesStreamUsage | StopLooksComplete},
	// Strands writes the Converse-shaped usage of its model provider raw;
	// its provider attribute is the framework name, so any provider matches
	// [strands-tracer].
	{ScopePrefix: "strands", Input: Exclusive},
	// Python OpenLLMetry and OpenInference add the cache to Anthropic's input
	// [tl-anth] [oi-anth-utils].
	{ScopePrefix: "opentelemetry.instrumentation.anthropic", Provider: "anthropic", Input: Inclusive},
	{ScopePrefix: "openinference.instrumentation.anthropic", Provider: "anthropic", Input: Inclusive},
	// Logfire's Anthropic integration adds them too [lf-anth].
	{ScopePrefix: "logfire", Provider: "anthropic", Input: Inclusive},
}

var builtinIndex = indexRules(builtin)

// exclusiveAPIs are the providers whose own API reports input without cache
// reads and writes: an emitter that passes their count through is exclusive,
// so an inclusive reading of an unverified emitter's cached call is a guess.
func exclusiveAPI(provider string) bool {
	return provider == "anthropic" || provider == "aws.bedrock"
}

// resolution is what the rules say about one call's emitter.
type resolution struct {
	in, out Convention
	// known: a configured or built-in rule (or the Langfuse dialect) names
	// the emitter, so its convention was verified, not assumed.
	known  bool
	stream StreamTraits
}

// resolve returns the input and output conventions for a call: configured
// rules first, then the dialect default (Langfuse usage_details buckets are
// disjoint), then the built-in table, then the semconv (inclusive). A rule's
// ScopePrefix matches the scope name or the emitter signal read from span
// attributes (for callers that do not know the scope). It also says whether
// any rule named the emitter and the stream traits of the first built-in row
// that did.
func (c *Conventions) resolve(scope Scope, signal, provider string, langfuse bool) resolution {
	var r resolution
	if c != nil {
		r = matchRules(c.rules, &c.index, scope, signal, provider, r)
	}
	if langfuse {
		// Langfuse usage_details are disjoint buckets whose sum is the total:
		// input without cache, output without reasoning (derived from
		// [langfuse-proc], which subtracts them when ingesting semconv).
		r.known = true
		if r.in == "" {
			r.in = Exclusive
		}
		if r.out == "" {
			r.out = Exclusive
		}
	}
	configured := r.known
	r = matchRules(builtin, &builtinIndex, scope, signal, provider, r)
	if configured && r.stream == 0 {
		// A configured rule states a convention, not stream behaviour: take
		// that from the first built-in row for the emitter, if any.
		for m := builtinIndex.candidates(scope.Name, signal); m != 0; m &= m - 1 {
			if i := bits.TrailingZeros64(m); builtin[i].matches(scope, signal, provider) {
				r.stream = builtin[i].Stream
				break
			}
		}
	}
	if r.in == "" {
		r.in = Inclusive
	}
	if r.out == "" {
		r.out = Inclusive
	}
	return r
}

// matchRules applies rules, in order, to r: the first matching rule names
// the emitter (and its stream traits), and each side takes the first
// non-empty convention of a matching rule. x indexes rules.
func matchRules(rules []Rule, x *ruleIndex, scope Scope, signal, provider string, r resolution) resolution {
	if x.all {
		for i := range rules {
			if r.apply(&rules[i], i, x, scope, signal, provider) {
				break
			}
		}
		return r
	}
	for m := x.candidates(scope.Name, signal); m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		if r.apply(&rules[i], i, x, scope, signal, provider) {
			break
		}
	}
	return r
}

// apply applies rule i of the list x indexes to r, and says whether no
// later rule can change r.
func (r *resolution) apply(rule *Rule, i int, x *ruleIndex, scope Scope, signal, provider string) (done bool) {
	if r.known && (r.in != "" || i > x.lastIn) && (r.out != "" || i > x.lastOut) {
		return true
	}
	if !rule.matches(scope, signal, provider) {
		return false
	}
	if !r.known {
		r.known, r.stream = true, rule.Stream
	}
	if r.in == "" {
		r.in = rule.Input
	}
	if r.out == "" {
		r.out = rule.Output
	}
	return r.in != "" && r.out != ""
}

func (r *Rule) matches(scope Scope, signal, provider string) bool {
	if r.Provider != "" && r.Provider != provider {
		return false
	}
	if r.ScopePrefix != "" {
		switch {
		case strings.HasPrefix(scope.Name, r.ScopePrefix):
		case signal != "" && strings.HasPrefix(signal, r.ScopePrefix):
			return r.VersionBelow == "" // a signal carries no version
		default:
			return false
		}
	}
	if r.VersionBelow != "" {
		return scope.Version != "" && compareVersions(scope.Version, r.VersionBelow) < 0
	}
	return true
}

// normalizeUsage turns raw counts into semconv counts under the resolved
// conventions and returns what it applied to input and output. An inclusive
// reading of a cached call is marked unverified when no rule names the
// emitter and the provider's API counts exclusively: total_tokens is input +
// output in both conventions, so the numbers cannot tell them apart.
func normalizeUsage(u *Usage, r resolution, provider string) (string, string, error) {
	in, out := r.in, r.out
	tin, tout := ConvInclusive, ConvInclusive
	cache := u.CacheRead + u.CacheWrite
	if cache < 0 { // both are >= 0: only an overflow gets here
		return "", "", &MalformedError{Attr: "cache tokens", Reason: errOverflow.Error()}
	}
	switch {
	case in == Exclusive:
		tin = ConvExclusive
	case cache > u.Input:
		// Impossible under the inclusive rule: the emitter reported input
		// without cache. Adding it is the only reading that does not lose
		// billed tokens (LiteLLM-style double-count guard).
		tin = ConvExclusiveDetected
	case cache > 0 && !r.known && exclusiveAPI(provider):
		tin = ConvInclusiveUnverified
	}
	if tin == ConvExclusive || tin == ConvExclusiveDetected {
		if u.Input > math.MaxInt64-cache {
			return "", "", &MalformedError{Attr: "input tokens", Reason: errOverflow.Error()}
		}
		u.Input += cache
	}
	switch {
	case out == Exclusive:
		tout = ConvExclusive
	case u.Reasoning > u.Output:
		tout = ConvExclusiveDetected
	}
	if tout != ConvInclusive {
		if u.Output > math.MaxInt64-u.Reasoning {
			return "", "", &MalformedError{Attr: "output tokens", Reason: errOverflow.Error()}
		}
		u.Output += u.Reasoning
	}
	return tin, tout, nil
}

// compareVersions compares dotted numeric versions ("1.2.10" > "1.2.9"); a
// leading "v" and any pre-release or build suffix of a component are ignored.
func compareVersions(a, b string) int {
	a, b = strings.TrimPrefix(a, "v"), strings.TrimPrefix(b, "v")
	for a != "" || b != "" {
		var x, y int
		x, a = leadingNumber(a)
		y, b = leadingNumber(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	}
	return 0
}

// leadingNumber reads the number at the start of a dotted version and returns
// the rest after the next '.'.
func leadingNumber(s string) (int, string) {
	n, i := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n < 1<<30 {
			n = n*10 + int(s[i]-'0')
		}
	}
	if j := strings.IndexByte(s[i:], '.'); j >= 0 {
		return n, s[i+j+1:]
	}
	return n, ""
}

func validVersion(s string) bool {
	s = strings.TrimPrefix(s, "v")
	return s != "" && s[0] >= '0' && s[0] <= '9'
}
