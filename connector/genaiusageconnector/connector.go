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
	var rec usage.Record // reused by every record of the batch
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
				writeRecord(&rec, sl.LogRecords().AppendEmpty(), span, service, env, contentID)
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

// writeRecord writes the usage record of a metered span into lr: the
// processor's genaimeter.* attributes read into rec (reused across the
// batch), plus the identity and time that only the span knows, written by
// usage.Record.ToLogRecord, the one writer of the log record form.
// contentID is the event id of a span without usable ids (see keyOf), ""
// otherwise: such a record is flagged invalid_id in its pricing_detail.
func writeRecord(rec *usage.Record, lr plog.LogRecord, span ptrace.Span, service, env, contentID string) {
	*rec = usage.Record{}
	attrs := span.Attributes()
	untaken, _ := rec.SetFromAttributes(attrs)
	rec.Time = usage.CallTime(span).AsTime()
	id := usage.EventID(span.TraceID(), span.SpanID())
	rec.EventID = id
	if contentID != "" {
		rec.EventID = contentID
	}
	if service != "" {
		rec.ServiceName = service
	}
	if env != "" {
		rec.Environment = env
	}
	// The event id is the trace id's 32 hex digits then the span id's 16, in
	// the same lowercase hex as TraceID.String and SpanID.String: slicing it
	// saves two encodings and two allocations per record. An empty id stays
	// "" as String gives it.
	rec.TraceID, rec.SpanID = "", ""
	if !span.TraceID().IsEmpty() {
		rec.TraceID = id[:32]
	}
	if !span.SpanID().IsEmpty() {
		rec.SpanID = id[32:]
	}
	if contentID != "" {
		flag := usage.InvalidIDDetail(span)
		if rec.PricingDetail != "" {
			flag += "; " + rec.PricingDetail
		}
		rec.PricingDetail = flag
	}
	rec.ToLogRecord(lr)
	if untaken {
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
