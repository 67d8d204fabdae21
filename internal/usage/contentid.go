package usage

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// FlagInvalidID starts the pricing_detail of a call whose span has no usable
// identity (an empty or all-zero trace id or span id): its event id is then
// derived from its content (ContentEventID) instead of being trace id + span
// id, which would merge every such call into one.
const FlagInvalidID = "invalid_id"

// contentIDPrefix starts a content-derived event id: "noid" ("no id") and 44
// hex digits (176 bits of SHA-256), 48 characters like a span-derived id, so
// that billing keys (event id + ":" + meter) stay within Stripe's 100.
const contentIDPrefix = "noid"

// HasSpanIdentity reports whether span's trace id and span id can identify
// it: neither is empty (OTLP's all-zero, which is also what an absent id
// decodes to).
func HasSpanIdentity(span ptrace.Span) bool {
	return !span.TraceID().IsEmpty() && !span.SpanID().IsEmpty()
}

// InvalidIDDetail says why span has no usable identity, for the record's
// pricing_detail ("" when it has one).
func InvalidIDDetail(span ptrace.Span) string {
	var what string
	switch t, s := span.TraceID().IsEmpty(), span.SpanID().IsEmpty(); {
	case t && s:
		what = "the span has an empty (all-zero) trace id and span id"
	case t:
		what = "the span has an empty (all-zero) trace id"
	case s:
		what = "the span has an empty (all-zero) span id"
	default:
		return ""
	}
	return FlagInvalidID + ": " + what + "; its event id is derived from the call's content"
}

// ContentEventID derives the event id of a call whose span has no usable
// identity from everything the sender said about it: the trace and parent
// ids, span name, kind, start and end times, status, its attributes (except
// the genaimeter.* ones this collector adds, so that a replay priced under
// another catalog is still the same call) in key order, and the resource's
// attributes. A retry of the same call (same bytes from the SDK) yields the
// same id and is deduplicated; two different calls differ in some of these
// (at least in their times), so they are never merged.
func ContentEventID(span ptrace.Span, resource pcommon.Resource) string {
	h := sha256.New()
	tid, pid := span.TraceID(), span.ParentSpanID()
	h.Write(tid[:])
	h.Write(pid[:])
	writeStr(h, span.Name())
	var b [8]byte
	for _, v := range [...]uint64{uint64(span.Kind()), uint64(span.StartTimestamp()), uint64(span.EndTimestamp()), uint64(span.Status().Code())} {
		binary.BigEndian.PutUint64(b[:], v)
		h.Write(b[:])
	}
	writeStr(h, span.Status().Message())
	writeMap(h, span.Attributes(), true)
	writeMap(h, resource.Attributes(), false)
	var sum [sha256.Size]byte
	return contentIDPrefix + hex.EncodeToString(h.Sum(sum[:0])[:22])
}

// IsContentEventID reports whether id has the form of a ContentEventID.
func IsContentEventID(id string) bool {
	return strings.HasPrefix(id, contentIDPrefix) && isLowerHex(id[len(contentIDPrefix):], 44)
}

// writeStr writes s with its length, so that concatenations cannot collide.
func writeStr(h hash.Hash, s string) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(len(s)))
	h.Write(b[:])
	h.Write([]byte(s))
}

// writeMap writes m's entries in key order (the order an SDK sends them in is
// not part of the call), values as their JSON-like text with their type.
func writeMap(h hash.Hash, m pcommon.Map, skipOurs bool) {
	keys := make([]string, 0, m.Len())
	for k := range m.All() {
		if skipOurs && strings.HasPrefix(k, Prefix) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	writeStr(h, "map")
	for _, k := range keys {
		v, _ := m.Get(k)
		writeStr(h, k)
		writeStr(h, v.Type().String())
		writeStr(h, v.AsString())
	}
}
