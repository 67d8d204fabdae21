package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
)

type costProcessor struct {
	cfg       *Config
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	catalog   *pricing.Catalog

	// Attribute sets of the per-status call counter, built once.
	statusAttrs map[string]metric.MeasurementOption
	skipAttrs   metric.MeasurementOption
}

func newCostProcessor(set processor.Settings, cfg *Config) (*costProcessor, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &costProcessor{
		cfg:         cfg,
		logger:      set.Logger,
		telemetry:   tb,
		statusAttrs: map[string]metric.MeasurementOption{},
		skipAttrs:   metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "invalid_token_count"))),
	}
	for _, s := range []string{usage.StatusPriced, usage.StatusUnpriced, usage.StatusNoUsage} {
		p.statusAttrs[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String("pricing_status", s)))
	}
	return p, nil
}

// start loads the price catalog: a missing or malformed file fails the start
// with its path and the reason, rather than pricing calls wrongly later.
func (p *costProcessor) start(_ context.Context, _ component.Host) error {
	if len(p.cfg.Pricing.Sources) == 0 {
		p.catalog = pricing.Embedded()
		return nil
	}
	src := p.cfg.Pricing.Sources[0]
	cat, err := pricing.LoadFile(src.Format, src.Path)
	if err != nil {
		return fmt.Errorf("genai_cost: loading price catalog pricing.sources[0]: %w", err)
	}
	p.catalog = cat
	return nil
}

func (p *costProcessor) shutdown(context.Context) error {
	if p.telemetry != nil {
		p.telemetry.Shutdown()
	}
	return nil
}

// batchCounts accumulates self-telemetry for one batch, so that counters are
// updated once per batch rather than once per span.
type batchCounts struct {
	priced, unpriced, noUsage, skipped int64
}

func (p *costProcessor) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	if p.catalog == nil {
		return td, errors.New("genai_cost: processor not started")
	}
	var n batchCounts
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes()
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				p.processSpan(ctx, spans.At(k), res, &n)
			}
		}
	}
	p.record(ctx, &n)
	return td, nil
}

func (p *costProcessor) record(ctx context.Context, n *batchCounts) {
	add := func(v int64, status string) {
		if v > 0 {
			p.telemetry.ProcessorGenaiCostCalls.Add(ctx, v, p.statusAttrs[status])
		}
	}
	add(n.priced, usage.StatusPriced)
	add(n.unpriced, usage.StatusUnpriced)
	add(n.noUsage, usage.StatusNoUsage)
	if n.skipped > 0 {
		p.telemetry.ProcessorGenaiCostSpansSkipped.Add(ctx, n.skipped, p.skipAttrs)
	}
}

// processSpan meters one span if it is an LLM call. Errors never leave this
// function: a span that cannot be metered is flagged and counted, and the rest
// of the batch goes on.
func (p *costProcessor) processSpan(ctx context.Context, span ptrace.Span, res pcommon.Map, n *batchCounts) {
	attrs := span.Attributes()
	call, kind, err := genaiconv.Extract(attrs)
	if err != nil {
		n.skipped++
		attrs.PutStr(usage.AttrSkipped, err.Error())
		p.logger.Warn("Skipping GenAI span with malformed usage",
			zap.String("trace_id", span.TraceID().String()), zap.String("span_id", span.SpanID().String()),
			zap.String("span", span.Name()), zap.Error(err))
		return
	}
	if kind != genaiconv.Inference {
		return
	}

	tenant := firstValue(p.cfg.Attribution.Tenant, attrs, res)
	if tenant == "" {
		tenant = usage.Unattributed
	}
	user := firstValue(p.cfg.Attribution.User, attrs, res)

	status, detail := usage.StatusNoUsage, "the span reports no token usage"
	var res2 pricing.Result
	if call.Usage.Reported {
		q := pricing.Query{
			Provider:      call.Provider,
			ResponseModel: call.ResponseModel,
			RequestModel:  call.RequestModel,
			At:            callTime(span),
		}
		setUsage(&q.Usage, call.Usage)
		p.catalog.Price(&q, &res2)
		switch res2.Status {
		case pricing.Priced:
			status, detail = usage.StatusPriced, ""
		default:
			status, detail = usage.StatusUnpriced, res2.Detail
		}
	}

	attrs.PutStr(usage.AttrTenantID, tenant)
	if user != "" {
		attrs.PutStr(usage.AttrUserID, user)
	}
	putNonEmpty(attrs, usage.AttrProvider, call.Provider)
	putNonEmpty(attrs, usage.AttrOperation, call.Operation)
	putNonEmpty(attrs, usage.AttrRequestModel, call.RequestModel)
	putNonEmpty(attrs, usage.AttrResponseModel, call.ResponseModel)
	attrs.PutInt(usage.AttrInputTokens, call.Usage.Input)
	attrs.PutInt(usage.AttrOutputTokens, call.Usage.Output)
	attrs.PutInt(usage.AttrCacheReadTokens, call.Usage.CacheRead)
	attrs.PutInt(usage.AttrCacheWriteTokens, call.Usage.CacheWrite)
	attrs.PutInt(usage.AttrReasoningTokens, call.Usage.Reasoning)
	attrs.PutStr(usage.AttrPricingStatus, status)
	switch status {
	case usage.StatusPriced:
		n.priced++
		attrs.PutStr(usage.AttrCatalogProvider, res2.ProviderID)
		attrs.PutStr(usage.AttrCatalogModel, res2.ModelID)
		attrs.PutStr(usage.AttrCostUSD, money.Format(&res2.Cost))
	case usage.StatusUnpriced:
		n.unpriced++
		attrs.PutStr(usage.AttrPricingDetail, detail)
		model := call.ResponseModel
		if model == "" {
			model = call.RequestModel
		}
		p.telemetry.ProcessorGenaiCostCallsUnpriced.Add(ctx, 1, metric.WithAttributes(
			attribute.String("provider", call.Provider), attribute.String("model", model)))
	default:
		n.noUsage++
		attrs.PutStr(usage.AttrPricingDetail, detail)
	}
	// Every call is billable until the billing rules say otherwise.
	attrs.PutBool(usage.AttrBillable, true)
	attrs.PutStr(usage.AttrBillableReason, "default")
}

// setUsage converts semconv token counts into the catalog's usage keys. Both
// count input as the total including cache reads and writes.
func setUsage(u *pricing.Usage, c genaiconv.Usage) {
	u.Set("input_tokens", c.Input)
	u.Set("output_tokens", c.Output)
	if c.CacheRead > 0 {
		u.Set("cache_read_tokens", c.CacheRead)
	}
	if c.CacheWrite > 0 {
		u.Set("cache_write_tokens", c.CacheWrite)
	}
}

// callTime is when the call happened for pricing: its end, as providers bill
// at completion. A span without an end time falls back to its start.
func callTime(span ptrace.Span) time.Time {
	ts := span.EndTimestamp()
	if ts == 0 {
		ts = span.StartTimestamp()
	}
	return ts.AsTime()
}

func firstValue(keys []string, span, res pcommon.Map) string {
	for _, m := range [2]pcommon.Map{span, res} {
		for _, k := range keys {
			if v, ok := m.Get(k); ok {
				if s := v.AsString(); s != "" {
					return s
				}
			}
		}
	}
	return ""
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}
