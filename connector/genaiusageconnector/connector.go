package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import (
	"context"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// scopeName names the instrumentation scope of the records we emit.
const scopeName = "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

type logsConnector struct {
	component.StartFunc
	component.ShutdownFunc

	next      consumer.Logs
	telemetry *metadata.TelemetryBuilder
}

func newLogsConnector(set connector.Settings, _ *Config, next consumer.Logs) (*logsConnector, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &logsConnector{
		next:         next,
		telemetry:    tb,
		ShutdownFunc: func(context.Context) error { tb.Shutdown(); return nil },
	}, nil
}

func (*logsConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces emits one usage record per span that the genai_cost processor
// metered (it carries genaimeter.pricing_status). Other spans yield nothing.
func (c *logsConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	ld := plog.NewLogs()
	var n int64
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		var sl plog.ScopeLogs // created on the first record of this resource
		res := rs.Resource().Attributes()
		service, env := resourceStr(res, "service.name"), environment(res)
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				span := spans.At(k)
				if _, ok := span.Attributes().Get(usage.AttrPricingStatus); !ok {
					continue
				}
				if sl == (plog.ScopeLogs{}) {
					rl := ld.ResourceLogs().AppendEmpty()
					rs.Resource().CopyTo(rl.Resource())
					sl = rl.ScopeLogs().AppendEmpty()
					sl.Scope().SetName(scopeName)
				}
				writeRecord(sl.LogRecords().AppendEmpty(), span, service, env)
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	c.telemetry.ConnectorGenaiUsageRecords.Add(ctx, n)
	return c.next.ConsumeLogs(ctx, ld)
}

// writeRecord builds the usage record of a metered span: the processor's
// genaimeter.* attributes, plus the identity and time that only the span knows.
func writeRecord(lr plog.LogRecord, span ptrace.Span, service, env string) {
	lr.SetEventName(usage.EventName)
	ts := span.EndTimestamp()
	if ts == 0 {
		ts = span.StartTimestamp()
	}
	lr.SetTimestamp(ts)
	lr.SetTraceID(span.TraceID())
	lr.SetSpanID(span.SpanID())
	a := lr.Attributes()
	a.EnsureCapacity(26)
	a.PutStr(usage.AttrEventID, usage.EventID(span.TraceID(), span.SpanID()))
	span.Attributes().Range(func(k string, v pcommon.Value) bool {
		if strings.HasPrefix(k, usage.Prefix) && k != usage.AttrSkipped {
			v.CopyTo(a.PutEmpty(k))
		}
		return true
	})
	if service != "" {
		a.PutStr(usage.AttrServiceName, service)
	}
	if env != "" {
		a.PutStr(usage.AttrEnvironment, env)
	}
	a.PutStr(usage.AttrTraceID, span.TraceID().String())
	a.PutStr(usage.AttrSpanID, span.SpanID().String())
}

func resourceStr(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}

// environment reads the deployment environment under its current and its
// pre-v1.27 semconv name.
func environment(res pcommon.Map) string {
	if e := resourceStr(res, "deployment.environment.name"); e != "" {
		return e
	}
	return resourceStr(res, "deployment.environment")
}
