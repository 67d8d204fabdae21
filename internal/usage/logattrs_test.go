package usage_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/internal/usage/usagetest"
)

// spanShape is a metered span's record attributes: the fields of the full
// record at the indexes in order (indexes into usage.Fields), those in blank
// with their zero value.
type spanShape struct {
	order []int
	blank map[int]bool
}

// attrs writes the shape's attributes as the processor would, plus one
// attribute that is no field, at the start, as spans carry.
func (s spanShape) attrs() pcommon.Map {
	full := usagetest.Full()
	m := pcommon.NewMap()
	m.PutStr("gen_ai.operation.name", "chat")
	for _, i := range s.order {
		f := &usage.Fields()[i]
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			v := *f.Str(&full)
			if s.blank[i] {
				v = ""
			}
			m.PutStr(f.Key, v)
		case usage.KindCount:
			v := *f.Int(&full)
			if s.blank[i] {
				v = 0
			}
			m.PutInt(f.Key, v)
		case usage.KindFlag:
			m.PutBool(f.Key, !s.blank[i])
		}
	}
	return m
}

// want is the log record's attributes for the shape, by the rule of the
// log record form stated independently of LogAttrs: the table's keyed
// fields in table order, each one the span has and is not empty or 0, and
// every LogAlways field and flag even when absent (empty, 0 or false).
func (s spanShape) want() []string {
	full := usagetest.Full()
	var out []string
	for i := range usage.Fields() {
		f := &usage.Fields()[i]
		if f.Key == "" {
			continue
		}
		has := slices.Contains(s.order, i) && !s.blank[i]
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			v := ""
			if has {
				v = *f.Str(&full)
			}
			if v != "" || f.LogAlways {
				out = append(out, f.Key+"=Str:"+v)
			}
		case usage.KindCount:
			var v int64
			if has {
				v = *f.Int(&full)
			}
			if v != 0 || f.LogAlways {
				out = append(out, fmt.Sprintf("%s=Int:%d", f.Key, v))
			}
		case usage.KindFlag:
			out = append(out, fmt.Sprintf("%s=Bool:%t", f.Key, has))
		}
	}
	return out
}

// spanShapes are records of different shapes: every field the processor
// writes in table order and in reverse, every other one, every third one
// with some blanked, only the required ones.
func spanShapes() []spanShape {
	var onSpan, required []int
	for i := range usage.Fields() {
		f := &usage.Fields()[i]
		if !f.OnSpan {
			continue
		}
		onSpan = append(onSpan, i)
		if f.Required {
			required = append(required, i)
		}
	}
	reversed := slices.Clone(onSpan)
	slices.Reverse(reversed)
	var everyOther, everyThird []int
	blank := map[int]bool{}
	for n, i := range onSpan {
		if n%2 == 0 {
			everyOther = append(everyOther, i)
		}
		if n%3 == 0 {
			everyThird = append(everyThird, i)
			if n%2 == 1 {
				blank[i] = true
			}
		}
	}
	return []spanShape{{order: onSpan}, {order: reversed}, {order: everyOther}, {order: everyThird, blank: blank}, {order: required}}
}

// written is what LogAttrs writes for the span attributes m into a new map.
func written(la *usage.LogAttrs, m pcommon.Map) []string {
	la.Reset()
	la.SetFromSpan(m)
	out := pcommon.NewMap()
	la.WriteTo(out)
	return attrList(out)
}

func attrList(m pcommon.Map) []string {
	var out []string
	m.Range(func(k string, v pcommon.Value) bool {
		out = append(out, k+"="+v.Type().String()+":"+v.AsString())
		return true
	})
	return out
}

// TestLogAttrsWritesEveryShape: one LogAttrs reused for spans of different
// shapes, in an order where each span's attributes sit where the last
// span's did and where they do not, writes each record as the rule says:
// neither the last span's layout (SetFromSpan's first guess) nor the last
// record's key template (WriteTo's) leaks into the next record.
func TestLogAttrsWritesEveryShape(t *testing.T) {
	shapes := spanShapes()
	var la usage.LogAttrs
	for _, n := range []int{0, 0, 1, 0, 2, 3, 3, 4, 1, 2, 4, 0} {
		assert.Equal(t, shapes[n].want(), written(&la, shapes[n].attrs()), "shape %d", n)
		assert.False(t, la.Untaken())
	}
}

// TestWriteToKeepsAttributesAlreadyThere: into a map that already holds
// other attributes, WriteTo appends the record's after them, in table order.
func TestWriteToKeepsAttributesAlreadyThere(t *testing.T) {
	shape := spanShapes()[2]
	var la usage.LogAttrs
	la.SetFromSpan(shape.attrs())
	m := pcommon.NewMap()
	m.PutStr("app.attribute", "kept")
	la.WriteTo(m)
	assert.Equal(t, append([]string{"app.attribute=Str:kept"}, shape.want()...), attrList(m))
}

// TestWriteToFromManyGoroutines: records of different shapes written at
// once from several goroutines (the connector's batches run concurrently;
// the key templates are shared) each come out as the rule says. Run with
// -race.
func TestWriteToFromManyGoroutines(t *testing.T) {
	shapes := spanShapes()
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var la usage.LogAttrs
			for n := range 50 {
				s := shapes[(g+n)%len(shapes)]
				if got := written(&la, s.attrs()); !slices.Equal(got, s.want()) {
					errs <- fmt.Sprintf("goroutine %d, record %d: %v", g, n, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		require.Fail(t, e)
	}
}

// TestEmptiedFieldIsNotWritten: a field set and then set to empty in the
// same record is written as a field never set: absent unless LogAlways.
func TestEmptiedFieldIsNotWritten(t *testing.T) {
	shape := spanShapes()[0]
	var la usage.LogAttrs
	la.SetFromSpan(shape.attrs())
	la.SetStr(usage.LogKeyOf(usage.AttrPricingDetail), "")
	la.SetStr(usage.LogKeyOf(usage.AttrTenantID), "") // LogAlways: written empty
	m := pcommon.NewMap()
	la.WriteTo(m)
	_, ok := m.Get(usage.AttrPricingDetail)
	assert.False(t, ok)
	v, ok := m.Get(usage.AttrTenantID)
	require.True(t, ok)
	assert.Empty(t, v.Str())
	assert.Len(t, attrList(m), len(shape.want())-1)
}
