package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/ancestry"
)

// pendingCall is an LLM call held back until its ancestors arrive or its wait
// runs out. td holds a copy of the span with its resource and scope.
type pendingCall struct {
	td   ptrace.Traces
	call genaiconv.Call
	// own is the identity found on the span itself (see callIdentity): the
	// held copy does not change, so it is read once, when the call is held.
	own      ancestry.Identity
	trace    pcommon.TraceID
	deadline time.Time
	done     bool
	// seq and idx locate the call in attribution.ancestors.storage: entry
	// seq, resource spans idx. seq 0: not stored.
	seq, idx uint64
	// passThrough marks a call that goes on unmetered: read back from
	// storage and no longer an LLM call under the current configuration, or
	// a wrapper whose model-call child arrived.
	passThrough bool
	// wrapper marks an SDK wrapper span (genaiconv.Wrapper) waiting for its
	// model-call child rather than for its ancestors: it is metered only if
	// the child never arrives.
	wrapper bool
}

// span is the held span.
func (pc *pendingCall) span() ptrace.Span {
	return pc.td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
}

// pendingCalls is the set of held calls: a FIFO in arrival order (which is
// also deadline order, the wait being the same for all) and an index by trace,
// so that a batch only re-examines the calls of its own traces.
type pendingCalls struct {
	queue   []*pendingCall
	head    int
	active  int
	byTrace map[pcommon.TraceID][]*pendingCall
}

func newPendingCalls() pendingCalls {
	return pendingCalls{byTrace: map[pcommon.TraceID][]*pendingCall{}}
}

func (q *pendingCalls) len() int { return q.active }

func (q *pendingCalls) has(trace pcommon.TraceID) bool {
	_, ok := q.byTrace[trace]
	return ok
}

func (q *pendingCalls) add(td ptrace.Traces, call genaiconv.Call, own *ancestry.Identity, deadline time.Time) *pendingCall {
	return q.hold(newPendingCall(td, call, own), deadline)
}

// newPendingCall is a call that is not (yet) held.
func newPendingCall(td ptrace.Traces, call genaiconv.Call, own *ancestry.Identity) *pendingCall {
	span := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	return &pendingCall{td: td, call: call, own: *own, trace: span.TraceID()}
}

// hold holds pc until deadline.
func (q *pendingCalls) hold(pc *pendingCall, deadline time.Time) *pendingCall {
	pc.deadline = deadline
	q.queue = append(q.queue, pc)
	q.byTrace[pc.trace] = append(q.byTrace[pc.trace], pc)
	q.active++
	return pc
}

// take marks a call as let go and unindexes it.
func (q *pendingCalls) take(pc *pendingCall) {
	pc.done = true
	q.active--
	list := q.byTrace[pc.trace]
	for i, x := range list {
		if x == pc {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(q.byTrace, pc.trace)
	} else {
		q.byTrace[pc.trace] = list
	}
}

// popOldest lets go the oldest held call, or returns nil.
func (q *pendingCalls) popOldest() *pendingCall {
	return q.popFirst(func(*pendingCall) bool { return true })
}

// popExpired lets go the oldest held call whose wait has run out, or returns nil.
func (q *pendingCalls) popExpired(now time.Time) *pendingCall {
	return q.popFirst(func(pc *pendingCall) bool { return !pc.deadline.After(now) })
}

// popFirst lets go the oldest held call if ready says so, skipping calls
// already let go; it returns nil when there is none or the oldest is not ready.
func (q *pendingCalls) popFirst(ready func(*pendingCall) bool) *pendingCall {
	for q.head < len(q.queue) {
		pc := q.queue[q.head]
		if !pc.done && !ready(pc) {
			return nil
		}
		q.queue[q.head] = nil
		q.head++
		if !pc.done {
			q.take(pc)
			q.compact()
			return pc
		}
	}
	q.compact()
	return nil
}

// compact drops the consumed prefix of the queue once it is half of it, so the
// queue's memory follows the number of calls held.
func (q *pendingCalls) compact() {
	if q.head == len(q.queue) {
		q.queue, q.head = q.queue[:0], 0
		return
	}
	if q.head > 1024 && q.head > len(q.queue)/2 {
		n := copy(q.queue, q.queue[q.head:])
		clear(q.queue[n:])
		q.queue, q.head = q.queue[:n], 0
	}
}

// resolvable lets go the held calls of a trace whose identity is now final,
// and the held wrappers whose model-call child has now been seen (those go on
// unmetered: the child is the call).
func (q *pendingCalls) resolvable(trace pcommon.TraceID, mem *ancestry.Memory, calls *callIndex) []*pendingCall {
	var out []*pendingCall
	for _, pc := range append([]*pendingCall(nil), q.byTrace[trace]...) {
		span := pc.span()
		if pc.wrapper {
			if calls.has(ancestry.Key{Trace: trace, Span: span.SpanID()}) {
				pc.passThrough = true
				q.take(pc)
				out = append(out, pc)
			}
			continue
		}
		id := pc.own
		if mem.Resolve(trace, span.ParentSpanID(), &id) {
			q.take(pc)
			out = append(out, pc)
		}
	}
	return out
}
