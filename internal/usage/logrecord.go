package usage

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// ToLogRecord writes r into lr: the record's fields become attributes under the
// genaimeter. prefix (see Fields: a field that is not LogAlways is written only
// when set), the call's time becomes the timestamp and the span identity the
// log record's trace context, so a record can be followed back to its trace.
// The genai_usage connector writes every usage record with it.
func (r *Record) ToLogRecord(lr plog.LogRecord) {
	lr.SetEventName(EventName)
	lr.SetTimestamp(pcommon.NewTimestampFromTime(r.Time))
	if tid, ok := parseTraceID(r.TraceID); ok {
		lr.SetTraceID(tid)
	}
	if sid, ok := parseSpanID(r.SpanID); ok {
		lr.SetSpanID(sid)
	}
	a := lr.Attributes()
	a.EnsureCapacity(RecordAttrs)
	for i := range logFields {
		f := &logFields[i]
		switch f.kind {
		case KindText, KindDecimal:
			if v := *f.str(r); v != "" || f.always {
				a.PutStr(f.key, v)
			}
		case KindCount:
			if v := *f.int(r); v != 0 || f.always {
				a.PutInt(f.key, v)
			}
		case KindFlag:
			a.PutBool(f.key, *f.bool(r))
		}
	}
}

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
	return out
}()

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
