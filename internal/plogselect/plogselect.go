// Package plogselect copies a subset of log records into new Logs, keeping
// each with its resource and scope. Exporters use it to hand exporterhelper
// only the records a retry must send again.
package plogselect

import "go.opentelemetry.io/collector/pdata/plog"

// Select copies the log records of ld for which keep(i) is true, i being the
// record's index in iteration order, with their resource and scope (created
// once per resource and scope that keeps a record). edit, when not nil, is
// called on each copy.
func Select(ld plog.Logs, keep func(i int) bool, edit func(i int, copied plog.LogRecord)) plog.Logs {
	out := plog.NewLogs()
	i := -1
	for _, rl := range ld.ResourceLogs().All() {
		var outRL plog.ResourceLogs
		haveRL := false
		for _, sl := range rl.ScopeLogs().All() {
			var outSL plog.ScopeLogs
			haveSL := false
			for _, lr := range sl.LogRecords().All() {
				i++
				if !keep(i) {
					continue
				}
				if !haveRL {
					outRL = out.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(outRL.Resource())
					outRL.SetSchemaUrl(rl.SchemaUrl())
					haveRL = true
				}
				if !haveSL {
					outSL = outRL.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(outSL.Scope())
					outSL.SetSchemaUrl(sl.SchemaUrl())
					haveSL = true
				}
				c := outSL.LogRecords().AppendEmpty()
				lr.CopyTo(c)
				if edit != nil {
					edit(i, c)
				}
			}
		}
	}
	return out
}
