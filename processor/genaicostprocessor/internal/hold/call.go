// Package hold keeps spans back until what they wait for arrives or their wait
// runs out: a deadline queue indexed by trace (deadlines.go), a storage that
// keeps them across a restart or a crash (storage.go, storage_extension.go),
// the acknowledgement that forgets a stored span only once the next consumer
// has accepted it, and the clock that lets spans go when their wait ends.
//
// It knows nothing of what the spans are or why they wait: the caller keeps
// its own data with each call (Call.Meta), decides when a call's wait is over
// (Take), and is handed back every call let go for any other reason (wait
// expired, capacity, shutdown) to finish it before it goes on.
package hold // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Call is one held span. Traces holds the span alone with its resource and
// scope, as it came in; Meta is the caller's, never read here.
type Call[M any] struct {
	Traces ptrace.Traces
	Meta   M

	trace    pcommon.TraceID
	deadline time.Time
	done     bool // let go: in no queue any more
	pos      Position
}

// NewCall is a call that is not (yet) held. td holds one span (see Copy).
func NewCall[M any](td ptrace.Traces, meta M) *Call[M] {
	c := &Call[M]{Traces: td, Meta: meta}
	c.trace = c.Span().TraceID()
	return c
}

// Span is the held span.
func (c *Call[M]) Span() ptrace.Span {
	return c.Traces.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
}

// Copy copies a span with its resource and scope into a batch of its own: the
// form in which a call is held, stored and handed back.
func Copy(span ptrace.Span, rs ptrace.ResourceSpans, ss ptrace.ScopeSpans) ptrace.Traces {
	td := ptrace.NewTraces()
	nrs := td.ResourceSpans().AppendEmpty()
	rs.Resource().CopyTo(nrs.Resource())
	nrs.SetSchemaUrl(rs.SchemaUrl())
	nss := nrs.ScopeSpans().AppendEmpty()
	ss.Scope().CopyTo(nss.Scope())
	nss.SetSchemaUrl(ss.SchemaUrl())
	span.CopyTo(nss.Spans().AppendEmpty())
	return td
}

// Gather moves the spans of calls let go into td.
func Gather[M any](calls []*Call[M], td ptrace.Traces) {
	for _, c := range calls {
		c.Traces.ResourceSpans().MoveAndAppendTo(td.ResourceSpans())
	}
}
