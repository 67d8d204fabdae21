package usage

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ToLogRecord writes r into lr: the record's fields become attributes under the
// genaimeter. prefix (see Fields: a field that is not LogAlways is written only
// when set), the call's time becomes the timestamp and the span identity the
// log record's trace context, so a record can be followed back to its trace.
// Its attributes are written by LogAttrs.WriteTo, as the genai_usage
// connector writes every usage record.
func (r *Record) ToLogRecord(lr plog.LogRecord) {
	lr.SetEventName(EventName)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(r.Time))
	if tid, ok := parseTraceID(r.TraceID); ok {
		lr.SetTraceID(tid)
	}
	if sid, ok := parseSpanID(r.SpanID); ok {
		lr.SetSpanID(sid)
	}
	var l LogAttrs
	for i := range logFields {
		f := &logFields[i]
		switch f.kind {
		case KindText, KindDecimal:
			l.setStr(i, *f.str(r))
		case KindCount:
			l.setInt(i, *f.int(r))
		case KindFlag:
			l.setInt(i, b2i(*f.bool(r)))
		}
	}
	l.WriteTo(lr.Attributes())
}

// LogAttrs is a usage record's attributes in the log record form, one value
// per keyed field of the table. It is the one writer of that form: ToLogRecord
// fills it from a Record, the genai_usage connector straight from a metered
// span's attributes (SetFromSpan) plus what only the span knows (SetStr). The
// connector used to read the span into a Record and write that with
// ToLogRecord; going through the Record's accessors twice cost a tenth more
// per record than copying the attributes, and gained nothing.
type LogAttrs struct {
	v [maxLogFields]logValue
	// set has bit i when v[i] is not the zero value: WriteTo and Reset
	// visit only those and the LogAlways fields, not the whole table, and
	// set|logAlways is exactly the fields WriteTo writes.
	set     uint64
	untaken bool
	// tmpl is the key template (see keyTemplate) of the fields written
	// last, kept so that a batch of records of the same shape looks it up
	// once; tmplFor is its field mask, 0 for none.
	tmpl    pcommon.Map
	tmplFor uint64
	// layout is the field index of each attribute of the last span read,
	// by position (-1: no field), the first guess for the next span's: the
	// spans of a batch mostly carry the same attributes in the same order.
	// Reset keeps it.
	layout [maxLayout]int8
}

// maxLayout is how many attribute positions of a span layout remembers;
// attributes past it are found by key alone.
const maxLayout = 64

// logValue is one field's value: text and decimals in s, counts in n, a
// flag as n != 0. The zero value is the field's absent value.
type logValue struct {
	s string
	n int64
}

// maxLogFields bounds the keyed fields: set is a 64-bit mask (see the check
// in logFields).
const maxLogFields = 64

// LogKey is a keyed field's place in LogAttrs (see LogKeyOf).
type LogKey int

// LogKeyOf is the place in LogAttrs of the field with attribute key k, found
// once rather than per record; it panics if k is no field's key.
func LogKeyOf(k string) LogKey {
	i := logIndex(k)
	if i < 0 {
		panic("usage: no record field has the key " + k)
	}
	return LogKey(i)
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// setStr and setInt set field i's value and keep its set bit equal to
// "not the zero value" (a later empty value of the same key clears it).
func (l *LogAttrs) setStr(i int, s string) {
	l.v[i].s = s
	if s != "" {
		l.set |= 1 << i
	} else {
		l.set &^= 1 << i
	}
}

func (l *LogAttrs) setInt(i int, n int64) {
	l.v[i].n = n
	if n != 0 {
		l.set |= 1 << i
	} else {
		l.set &^= 1 << i
	}
}

// Reset empties l for the next record.
func (l *LogAttrs) Reset() {
	for m := l.set; m != 0; m &= m - 1 {
		l.v[bits.TrailingZeros64(m)] = logValue{}
	}
	l.set, l.untaken = 0, false
}

// SetFromSpan takes the values of the record's fields from a metered span's
// genaimeter.* attributes (the processor writes them with the log record's
// keys and types), as SetFromAttributes does into a Record. An attribute of
// the wrong type is not taken; it and the genaimeter.* attributes that are no
// field set Untaken (see CopyUntaken).
func (l *LogAttrs) SetFromSpan(m pcommon.Map) {
	next := 0 // the field after the last one found
	p := 0    // the attribute's position in m
	m.Range(func(k string, v pcommon.Value) bool {
		// Each guess costs one key compare (of the same string, the same
		// pointer, when both come from the Attr* constants); the hash
		// lookup is a few times that, and a span often skips fields.
		i := -1
		if p < maxLayout {
			if g := l.layout[p]; g >= 0 && logFields[g].key == k {
				i = int(g) // where the last span had it
			}
		}
		if i < 0 {
			// The processor writes the fields in table order, so the
			// key is most often the next field's.
			if next < len(logFields) && logFields[next].key == k {
				i = next
			} else {
				i = logIndex(k)
			}
			if p < maxLayout {
				l.layout[p] = int8(i)
			}
		}
		p++
		if i < 0 {
			l.untaken = l.untaken || strings.HasPrefix(k, Prefix)
			return true
		}
		next = i + 1
		// Str, Int and Bool give the zero value for a value of another
		// type, so only a zero result needs its type checked: one type
		// test per attribute instead of two.
		switch logFields[i].kind {
		case KindText, KindDecimal:
			s := v.Str()
			if s == "" && v.Type() != pcommon.ValueTypeStr {
				l.untaken = true
				return true
			}
			l.setStr(i, s)
		case KindCount:
			n := v.Int()
			if n == 0 && v.Type() != pcommon.ValueTypeInt {
				l.untaken = true
				return true
			}
			l.setInt(i, n)
		case KindFlag:
			b := v.Bool()
			if !b && v.Type() != pcommon.ValueTypeBool {
				l.untaken = true
				return true
			}
			l.setInt(i, b2i(b))
		}
		return true
	})
}

// Untaken reports whether SetFromSpan met genaimeter.* attributes that it did
// not take: the caller copies them on with CopyUntaken.
func (l *LogAttrs) Untaken() bool { return l.untaken }

// Str is the text value of field k ("" if none).
func (l *LogAttrs) Str(k LogKey) string { return l.v[k].s }

// SetStr sets the text value of field k (a text or decimal field).
func (l *LogAttrs) SetStr(k LogKey, v string) { l.setStr(int(k), v) }

// WriteTo appends the attributes to a, in table order: a field that is not
// LogAlways only when set. a must hold none of the record's keys yet (a new
// log record's attributes): Put replaces a key it finds.
//
// Into an empty map it copies the key template of the written fields and
// then sets each value in place, in order. Each Put would first scan the
// keys already in the map for its own (about 180 string compares for a
// record of 19 attributes, a quarter of the connector's instructions per record);
// the template writes the same keys in the same order with no scan, and
// sizes the map to exactly the written fields.
func (l *LogAttrs) WriteTo(a pcommon.Map) {
	w := l.set | logAlways
	if a.Len() == 0 {
		if w != l.tmplFor {
			l.tmpl, l.tmplFor = keyTemplate(w), w
		}
		if l.tmpl != (pcommon.Map{}) {
			l.tmpl.CopyTo(a)
			m := w
			a.Range(func(_ string, v pcommon.Value) bool {
				i := bits.TrailingZeros64(m)
				m &= m - 1
				switch logFields[i].kind {
				case KindText, KindDecimal:
					v.SetStr(l.v[i].s)
				case KindCount:
					v.SetInt(l.v[i].n)
				case KindFlag:
					v.SetBool(l.v[i].n != 0)
				}
				return true
			})
			return
		}
	}
	a.EnsureCapacity(a.Len() + bits.OnesCount64(w))
	for m := w; m != 0; m &= m - 1 {
		i := bits.TrailingZeros64(m)
		f, v := &logFields[i], &l.v[i]
		switch f.kind {
		case KindText, KindDecimal:
			a.PutStr(f.key, v.s)
		case KindCount:
			a.PutInt(f.key, v.n)
		case KindFlag:
			a.PutBool(f.key, v.n != 0)
		}
	}
}

// keyTemplates holds a key template per mask of written fields: a map with
// those fields' keys in table order and empty values, built from logFields
// (so from the field table) the first time a record of that shape is
// written, and read-only after. A record's shape is which optional fields it
// has: a deployment sees a handful, so the cache stays small; past
// maxKeyTemplates shapes WriteTo puts the keys one by one instead.
var (
	keyTemplates     sync.Map // uint64 → pcommon.Map
	keyTemplateCount atomic.Int32
)

const maxKeyTemplates = 1024

// keyTemplate returns the key template of the fields in mask w, or the zero
// Map once the cache is full.
func keyTemplate(w uint64) pcommon.Map {
	if t, ok := keyTemplates.Load(w); ok {
		return t.(pcommon.Map)
	}
	if keyTemplateCount.Load() >= maxKeyTemplates {
		return pcommon.Map{}
	}
	t := pcommon.NewMap()
	t.EnsureCapacity(bits.OnesCount64(w))
	for m := w; m != 0; m &= m - 1 {
		t.PutEmpty(logFields[bits.TrailingZeros64(m)].key)
	}
	got, loaded := keyTemplates.LoadOrStore(w, t)
	if !loaded {
		keyTemplateCount.Add(1)
	}
	return got.(pcommon.Map)
}

// logAlways has bit i when logFields[i] is written even when not set: the
// LogAlways fields, and flags (false is a value).
var logAlways = func() (m uint64) {
	for i := range logFields {
		if logFields[i].always || logFields[i].kind == KindFlag {
			m |= 1 << i
		}
	}
	return m
}()

// logField is what ToLogRecord needs of a keyed field, compact: the loop
// over the whole Field table was a third of the connector's own work.
type logField struct {
	key    string
	kind   Kind
	always bool
	str    func(*Record) *string
	int    func(*Record) *int64
	bool   func(*Record) *bool
}

// logFields are the fields with an attribute key, in table order.
var logFields = func() []logField {
	var out []logField
	for _, f := range fields {
		if f.Key != "" {
			out = append(out, logField{f.Key, f.Kind, f.LogAlways, f.Str, f.Int, f.Bool})
		}
	}
	if len(out) > maxLogFields {
		panic("usage: more keyed fields than maxLogFields")
	}
	return out
}()

// logByHash finds a keyed field's index in logFields by its attribute key,
// hashed as keyTable is; -1 is an empty slot.
var logByHash = func() (t [keyTableSize]int8) {
	for h := range t {
		t[h] = -1
	}
	for i := range logFields {
		h := keyHash(logFields[i].key)
		for t[h] >= 0 {
			h = (h + 1) % keyTableSize
		}
		t[h] = int8(i)
	}
	return t
}()

// logIndex is the index in logFields of the field with key k, or -1.
func logIndex(k string) int {
	if len(k) < len(Prefix)+3 || k[:len(Prefix)] != Prefix {
		return -1
	}
	for h := keyHash(k); ; h = (h + 1) % keyTableSize {
		i := logByHash[h]
		if i < 0 {
			return -1
		}
		if logFields[i].key == k {
			return int(i)
		}
	}
}

// ErrNotUsageRecord is returned by FromLogRecord for a log record that is not a
// usage record (it has no event id).
var ErrNotUsageRecord = errors.New("not a genaimeter usage record: missing " + AttrEventID)

// FromLogRecord reads a usage record back from a log record written by
// ToLogRecord. It fails on a record without an event id or with a field of the
// wrong type, so that the exporter can refuse it as bad data instead of storing
// a wrong row. It does not check the values: callers then call ValidateRecord.
func FromLogRecord(lr plog.LogRecord) (Record, error) {
	var r Record
	a := lr.Attributes()
	if v, ok := a.Get(AttrEventID); !ok || (v.Type() == pcommon.ValueTypeStr && v.Str() == "") {
		return r, ErrNotUsageRecord
	}
	_, err := r.SetFromAttributes(a)
	r.Time = lr.Timestamp().AsTime().UTC()
	return r, err
}

// SetFromAttributes sets r's fields from the record's attributes in m: a
// usage log record's, or a metered span's (the processor writes the same
// keys with the same types). Other attributes are ignored; fields without an
// attribute in m are left as they are. It returns an error naming every
// attribute of the record whose value has another type than its field (that
// field is left as it is), and whether m holds genaimeter.* attributes that
// it did not take, unknown or of the wrong type (see CopyUntaken).
func (r *Record) SetFromAttributes(m pcommon.Map) (untaken bool, err error) {
	var errs []error
	m.Range(func(k string, v pcommon.Value) bool {
		f, ok := FieldByKey(k)
		if !ok {
			untaken = untaken || strings.HasPrefix(k, Prefix)
			return true
		}
		if !f.fits(v.Type()) {
			untaken = true
			errs = append(errs, fmt.Errorf("%s: want %s, got %s", k, f.Kind.attrType(), v.Type()))
			return true
		}
		switch f.Kind {
		case KindText, KindDecimal:
			*f.Str(r) = v.Str()
		case KindCount:
			*f.Int(r) = v.Int()
		case KindFlag:
			*f.Bool(r) = v.Bool()
		}
		return true
	})
	return untaken, errors.Join(errs...)
}

// CopyUntaken copies into dst the genaimeter.* attributes of src that
// SetFromAttributes does not take: keys that are no field of the record, and
// fields whose value has the wrong type. The connector carries them onto the
// log record as they are, so that the ledger refuses such a record with the
// reason (and dead-letters it) rather than storing it with a field dropped.
func CopyUntaken(dst, src pcommon.Map) {
	src.Range(func(k string, v pcommon.Value) bool {
		if !strings.HasPrefix(k, Prefix) {
			return true
		}
		if f, ok := FieldByKey(k); !ok || !f.fits(v.Type()) {
			v.CopyTo(dst.PutEmpty(k))
		}
		return true
	})
}

// fits reports whether an attribute of type t is of f's kind.
func (f *Field) fits(t pcommon.ValueType) bool {
	switch f.Kind {
	case KindText, KindDecimal:
		return t == pcommon.ValueTypeStr
	case KindCount:
		return t == pcommon.ValueTypeInt
	case KindFlag:
		return t == pcommon.ValueTypeBool
	}
	return false
}

// attrType names the attribute type of a kind, for errors.
func (k Kind) attrType() string {
	switch k {
	case KindCount:
		return "an int"
	case KindFlag:
		return "a bool"
	}
	return "a string"
}

func parseTraceID(s string) (id pcommon.TraceID, ok bool) {
	return id, len(s) == 32 && decodeHex(id[:], s)
}

func parseSpanID(s string) (id pcommon.SpanID, ok bool) {
	return id, len(s) == 16 && decodeHex(id[:], s)
}

// decodeHex decodes the 2*len(dst) hex digits of s into dst (the ids of
// every record the connector writes: encoding/hex's general decoder was a
// tenth of ToLogRecord).
func decodeHex(dst []byte, s string) bool {
	for i := range dst {
		hi, lo := unhex[s[2*i]], unhex[s[2*i+1]]
		if hi|lo > 0xf {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// unhex maps a hex digit to its value and anything else to 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "0123456789abcdef" {
		t[c] = byte(i)
	}
	for i, c := range "ABCDEF" {
		t[c] = byte(10 + i)
	}
	return t
}()
