package plogselect

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestSelectKeepsResourceAndScopeOfKeptRecords(t *testing.T) {
	ld := plog.NewLogs()
	for r := 0; r < 2; r++ {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutInt("r", int64(r))
		rl.SetSchemaUrl("schema-r")
		for s := 0; s < 2; s++ {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("scope")
			for k := 0; k < 2; k++ {
				sl.LogRecords().AppendEmpty().Body().SetInt(int64(r*4 + s*2 + k))
			}
		}
	}
	// Keep records 1 and 6: one per resource, in different scopes.
	out := Select(ld, func(i int) bool { return i == 1 || i == 6 },
		func(i int, c plog.LogRecord) { c.Attributes().PutInt("i", int64(i)) })
	assert.Equal(t, 2, out.LogRecordCount())
	assert.Equal(t, 2, out.ResourceLogs().Len())
	for n, want := range []int64{1, 6} {
		rl := out.ResourceLogs().At(n)
		assert.Equal(t, "schema-r", rl.SchemaUrl())
		assert.Equal(t, map[string]any{"r": int64(n)}, rl.Resource().Attributes().AsRaw())
		assert.Equal(t, 1, rl.ScopeLogs().Len())
		lr := rl.ScopeLogs().At(0).LogRecords().At(0)
		assert.Equal(t, want, lr.Body().Int())
		assert.Equal(t, map[string]any{"i": want}, lr.Attributes().AsRaw())
	}
	assert.Equal(t, 0, Select(ld, func(int) bool { return false }, nil).LogRecordCount())
}
