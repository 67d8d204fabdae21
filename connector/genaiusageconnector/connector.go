package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector/internal/metadata"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// scopeName names the instrumentation scope of the records we emit.
const scopeName = "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

// signalAttrs are the telemetry attribute sets of the two flavours, built once.
var (
	logsSignal    = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", "logs")))
	metricsSignal = metric.WithAttributeSet(attribute.NewSet(attribute.String("signal", "metrics")))
)

type logsConnector struct {
	component.StartFunc
	component.ShutdownFunc

	next      consumer.Logs
	telemetry *metadata.TelemetryBuilder
	now       func() time.Time

	mu   sync.Mutex
	seen *dedupe // guarded by mu
}

// seenCall is a call marked in the duplicate window by this batch, to be
// unmarked if the batch is not delivered.
type seenCall struct {
	key eventKey
	at  int64
}

func newLogsConnector(set connector.Settings, cfg *Config, next consumer.Logs, now func() time.Time) (*logsConnector, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &logsConnector{
		next:         next,
		telemetry:    tb,
		now:          now,
		seen:         newDedupe(cfg.Dedupe),
		ShutdownFunc: func(context.Context) error { tb.Shutdown(); return nil },
	}, nil
}

func (*logsConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeTraces emits one usage record per span that the genai_cost processor
// metered (it carries genaimeter.pricing_status). Other spans yield nothing, and
// so does a call whose event id is in the duplicate window: a sink that is not
// idempotent (Kafka, files, billing APIs) gets each call once.
func (c *logsConnector) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	ld := plog.NewLogs()
	var la usage.LogAttrs // reused by every record of the batch
	var n, dups, evicted int64
	var marked []seenCall
	now := c.now().UnixNano()
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
				k, contentID := keyOf(span, rs.Resource())
				c.mu.Lock()
				dup, ev := c.seen.add(k, now)
				c.mu.Unlock()
				evicted += int64(ev)
				if dup {
					dups++
					continue
				}
				if c.seen.window > 0 {
					marked = append(marked, seenCall{k, now})
				}
				if sl == (plog.ScopeLogs{}) {
					rl := ld.ResourceLogs().AppendEmpty()
					rs.Resource().CopyTo(rl.Resource())
					sl = rl.ScopeLogs().AppendEmpty()
					sl.Scope().SetName(scopeName)
				}
				writeRecord(&la, sl.LogRecords().AppendEmpty(), span, service, env, contentID)
				n++
			}
		}
	}
	if dups > 0 {
		c.telemetry.ConnectorGenaiUsageDuplicatesSuppressed.Add(ctx, dups, logsSignal)
	}
	if evicted > 0 {
		c.telemetry.ConnectorGenaiUsageDedupeEvicted.Add(ctx, evicted, logsSignal)
	}
	if n == 0 {
		return nil
	}
	if err := c.next.ConsumeLogs(ctx, ld); err != nil {
		// Not delivered: the sender's retry of these spans is not a duplicate.
		c.mu.Lock()
		for _, m := range marked {
			c.seen.forget(m.key, m.at)
		}
		c.mu.Unlock()
		return err
	}
	c.telemetry.ConnectorGenaiUsageRecords.Add(ctx, n)
	return nil
}

// The fields writeRecord takes from the span rather than its attributes.
var (
	logEventID       = usage.LogKeyOf(usage.AttrEventID)
	logServiceName   = usage.LogKeyOf(usage.AttrServiceName)
	logEnvironment   = usage.LogKeyOf(usage.AttrEnvironment)
	logTraceID       = usage.LogKeyOf(usage.AttrTraceID)
	logSpanID        = usage.LogKeyOf(usage.AttrSpanID)
	logPricingDetail = usage.LogKeyOf(usage.AttrPricingDetail)
)

// writeRecord writes the usage record of a metered span into lr: the
// processor's genaimeter.* attributes, plus the identity and time that only
// the span knows, written by usage.LogAttrs, the one writer of the log record
// form (usage.Record.ToLogRecord writes through it too). The attributes are
// copied field by field, not read into a usage.Record and written back out.
// contentID is the event id of a span without usable ids (see keyOf), ""
// otherwise: such a record is flagged invalid_id in its pricing_detail.
func writeRecord(la *usage.LogAttrs, lr plog.LogRecord, span ptrace.Span, service, env, contentID string) {
	la.Reset()
	attrs := span.Attributes()
	la.SetFromSpan(attrs)
	lr.SetEventName(usage.EventName)
	lr.SetTimestamp(usage.CallTime(span))
	tid, sid := span.TraceID(), span.SpanID()
	lr.SetTraceID(tid)
	lr.SetSpanID(sid)
	id := usage.EventID(tid, sid)
	if contentID != "" {
		la.SetStr(logEventID, contentID)
	} else {
		la.SetStr(logEventID, id)
	}
	if service != "" {
		la.SetStr(logServiceName, service)
	}
	if env != "" {
		la.SetStr(logEnvironment, env)
	}
	// The event id is the trace id's 32 hex digits then the span id's 16, in
	// the same lowercase hex as TraceID.String and SpanID.String: slicing it
	// saves two encodings and two allocations per record. An empty id stays
	// "" as String gives it.
	var traceID, spanID string
	if !tid.IsEmpty() {
		traceID = id[:32]
	}
	if !sid.IsEmpty() {
		spanID = id[32:]
	}
	la.SetStr(logTraceID, traceID)
	la.SetStr(logSpanID, spanID)
	if contentID != "" {
		flag := usage.InvalidIDDetail(span)
		if d := la.Str(logPricingDetail); d != "" {
			flag += "; " + d
		}
		la.SetStr(logPricingDetail, flag)
	}
	la.WriteTo(lr.Attributes())
	if la.Untaken() {
		// A genaimeter.* attribute of the span that is no field of the record,
		// or of the wrong type, goes on as it is: the ledger then refuses the
		// record with the reason instead of storing it with a field dropped.
		usage.CopyUntaken(lr.Attributes(), attrs)
	}
}

// resourceStr is a resource attribute as text, "" when absent.
func resourceStr(m pcommon.Map, k string) string {
	s, _ := str(m, k)
	return s
}

// environment reads the deployment environment under its current and its
// pre-v1.27 semconv name.
func environment(res pcommon.Map) string {
	if e := resourceStr(res, "deployment.environment.name"); e != "" {
		return e
	}
	return resourceStr(res, "deployment.environment")
}
