package hold // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// deadlines is the set of held calls: a FIFO in arrival order (which is also
// deadline order, the wait being the same for all) and an index by trace, so
// that a batch only re-examines the calls of its own traces.
type deadlines[M any] struct {
	queue   []*Call[M]
	head    int
	active  int
	byTrace map[pcommon.TraceID][]*Call[M]
}

func newDeadlines[M any]() deadlines[M] {
	return deadlines[M]{byTrace: map[pcommon.TraceID][]*Call[M]{}}
}

func (q *deadlines[M]) len() int { return q.active }

func (q *deadlines[M]) has(trace pcommon.TraceID) bool {
	_, ok := q.byTrace[trace]
	return ok
}

// push holds c until deadline.
func (q *deadlines[M]) push(c *Call[M], deadline time.Time) {
	c.deadline, c.done = deadline, false
	q.queue = append(q.queue, c)
	q.byTrace[c.trace] = append(q.byTrace[c.trace], c)
	q.active++
}

// take marks a call as let go and unindexes it; the queue skips it later.
func (q *deadlines[M]) take(c *Call[M]) {
	c.done = true
	q.active--
	list := q.byTrace[c.trace]
	for i, x := range list {
		if x == c {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(q.byTrace, c.trace)
	} else {
		q.byTrace[c.trace] = list
	}
}

// popOldest lets go the oldest held call, or returns nil.
func (q *deadlines[M]) popOldest() *Call[M] {
	return q.popFirst(time.Time{}, false)
}

// popExpired lets go the oldest held call whose wait has run out at now, or
// returns nil.
func (q *deadlines[M]) popExpired(now time.Time) *Call[M] {
	return q.popFirst(now, true)
}

// popFirst lets go the oldest held call (if expiredOnly, only when its
// deadline is not after now), skipping calls already let go; nil when there
// is none or the oldest is not due.
func (q *deadlines[M]) popFirst(now time.Time, expiredOnly bool) *Call[M] {
	for q.head < len(q.queue) {
		c := q.queue[q.head]
		if !c.done && expiredOnly && c.deadline.After(now) {
			return nil
		}
		q.queue[q.head] = nil
		q.head++
		if !c.done {
			q.take(c)
			q.compact()
			return c
		}
	}
	q.compact()
	return nil
}

// compact drops the consumed prefix of the queue once it is half of it, so the
// queue's memory follows the number of calls held.
func (q *deadlines[M]) compact() {
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
