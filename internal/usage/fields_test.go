package usage_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/internal/usage/usagetest"
)

// TestFieldsCoverTheRecord: every field of usage.Record is in the table
// exactly once, with its accessor, a name and a column type; and
// usagetest.Full sets every one of them, so each form's test sees it.
func TestFieldsCoverTheRecord(t *testing.T) {
	full := usagetest.Full()
	require.NoError(t, usage.ValidateRecord(&full))
	var r usage.Record
	names, keys := map[string]bool{}, map[string]bool{}
	for i := range usage.Fields() {
		f := &usage.Fields()[i]
		assert.False(t, names[f.Name], "name %s twice", f.Name)
		names[f.Name] = true
		if f.Key != "" {
			assert.False(t, keys[f.Key], "key %s twice", f.Key)
			keys[f.Key] = true
			assert.Equal(t, usage.Prefix+f.Name, f.Key, "the attribute key is the name under the prefix")
			got, ok := usage.FieldByKey(f.Key)
			assert.True(t, ok && got == f, f.Key)
		}
		assert.NotEmpty(t, f.SQLite, f.Name)
		assert.NotEmpty(t, f.Postgres, f.Name)
		assert.Positive(t, f.Since, f.Name)
		assert.False(t, reflect.ValueOf(usagetest.Value(f, &full)).IsZero(), "usagetest.Full leaves %s unset", f.Name)
		// The accessor points into the record: set it, and exactly one Go
		// field of the record changes.
		before := r
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			*f.Str(&r) = *f.Str(&full)
		case usage.KindCount:
			*f.Int(&r) = *f.Int(&full)
		case usage.KindFlag:
			*f.Bool(&r) = *f.Bool(&full)
		case usage.KindTime:
			*f.Time(&r) = *f.Time(&full)
		default:
			t.Fatalf("%s: no kind", f.Name)
		}
		assert.NotEqual(t, before, r, "%s sets no field", f.Name)
	}
	assert.Equal(t, full, r, "setting every field of the table gives the full record: no Go field is left out")
	assert.Equal(t, reflect.TypeOf(r).NumField(), len(usage.Fields()), "one table field per record field")
	assert.Equal(t, len(keys), usage.RecordAttrs)
}

// TestLogRecordCarriesEveryField: the log record of the full record has one
// attribute per keyed field, of its kind's type, and reads back equal.
func TestLogRecordCarriesEveryField(t *testing.T) {
	full := usagetest.Full()
	lr := plog.NewLogRecord()
	full.ToLogRecord(lr)
	var keys []string
	for i := range usage.Fields() {
		if k := usage.Fields()[i].Key; k != "" {
			keys = append(keys, k)
		}
	}
	var got []string
	lr.Attributes().Range(func(k string, _ pcommon.Value) bool { got = append(got, k); return true })
	assert.Equal(t, keys, got, "the attributes are the table's keys, in its order")
	back, err := usage.FromLogRecord(lr)
	require.NoError(t, err)
	assert.Equal(t, full, back)
}

// TestValidateRecordChecksEveryField: ValidateRecord refuses a bad value in
// every decimal, count and enumerated field of the table (a new field is
// checked without a new line in ValidateRecord), with the field's name.
func TestValidateRecordChecksEveryField(t *testing.T) {
	n := 0
	for i := range usage.Fields() {
		f := &usage.Fields()[i]
		var bad []func(r *usage.Record)
		var want []string
		switch {
		case f.Kind == usage.KindDecimal:
			for _, v := range []string{"-1", "NaN", "1e3", "lots"} {
				bad = append(bad, func(r *usage.Record) { *f.Str(r) = v })
				want = append(want, f.Name+`: want a non-negative decimal in plain notation, got "`+v+`"`)
			}
		case f.Kind == usage.KindCount:
			bad = append(bad, func(r *usage.Record) { *f.Int(r) = -1 })
			want = append(want, f.Name+": must be >= 0, got -1")
		case f.Values != nil:
			bad = append(bad, func(r *usage.Record) { *f.Str(r) = "bogus" })
			want = append(want, f.Name+": must be one of ")
		}
		for j, mut := range bad {
			r := usagetest.Full()
			mut(&r)
			err := usage.ValidateRecord(&r)
			require.ErrorIs(t, err, usage.ErrInvalidRecord, f.Name)
			assert.Contains(t, err.Error(), want[j])
			n++
		}
	}
	assert.GreaterOrEqual(t, n, 3*4+8+3, "the decimals, the counts and the enums are all checked")
}
