package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"strings"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/hold"
)

// tally counts the outcomes of one batch (or of the calls the hold lets go
// together), so that the counters are added once per batch rather than once
// per span (count).
type tally struct {
	priced, unpriced, noUsage, unattributed, held int64
	// invalid counts the calls recorded as invalid_usage, by reason.
	invalid map[string]int64
	// costDiffers counts calls whose reported cost differs from ours.
	costDiffers int64
	released    map[string]int64
	bill        billingCounts
}

func (t *tally) release(reason string, k int64) {
	if t.released == nil {
		t.released = map[string]int64{}
	}
	t.released[reason] += k
}

// maxUnpricedSeries bounds the series of calls_unpriced: its provider and
// model come from span data, which any client can fill with anything. Past
// the bound, a new pair is counted as provider and model unpricedOverflow.
const maxUnpricedSeries = 200

// unpricedOverflow is the provider and model of calls_unpriced for the pairs
// past maxUnpricedSeries.
const unpricedOverflow = "_overflow"

// counters are the attribute sets of the counters, built once (those of
// calls_unpriced as pairs come, up to maxUnpricedSeries).
type counters struct {
	statusAttrs  map[string]metric.MeasurementOption
	releaseAttrs map[string]metric.MeasurementOption
	invalidAttrs map[string]metric.MeasurementOption
	unpriced     map[[2]string]metric.MeasurementOption
}

func newCounters() counters {
	c := counters{
		statusAttrs:  map[string]metric.MeasurementOption{},
		releaseAttrs: map[string]metric.MeasurementOption{},
		invalidAttrs: map[string]metric.MeasurementOption{},
		unpriced:     map[[2]string]metric.MeasurementOption{},
	}
	for _, r := range invalidReasons {
		c.invalidAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r)))
	}
	for _, s := range usage.Statuses {
		c.statusAttrs[s] = metric.WithAttributeSet(attribute.NewSet(attribute.String("pricing_status", s)))
	}
	for _, r := range []string{releaseArrived, hold.ReasonExpired, hold.ReasonCapacity, hold.ReasonShutdown, releaseCallArrived} {
		c.releaseAttrs[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("release_reason", r)))
	}
	c.unpriced[[2]string{unpricedOverflow, unpricedOverflow}] = unpricedAttrs(unpricedOverflow, unpricedOverflow)
	return c
}

func unpricedAttrs(provider, model string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("provider", provider), attribute.String("model", model)))
}

// unpricedSeries returns the attributes of calls_unpriced for a pair; the
// first pair past maxUnpricedSeries is logged. Under p.mu.
func (p *costProcessor) unpricedSeries(provider, model string) metric.MeasurementOption {
	k := [2]string{provider, model}
	if o, ok := p.unpriced[k]; ok {
		return o
	}
	if len(p.unpriced) > maxUnpricedSeries { // the overflow pair is one of them
		return p.unpriced[[2]string{unpricedOverflow, unpricedOverflow}]
	}
	// Cloned: the strings point into the span's memory, which the series outlives.
	k = [2]string{strings.Clone(provider), strings.Clone(model)}
	o := unpricedAttrs(k[0], k[1])
	p.unpriced[k] = o
	if len(p.unpriced) > maxUnpricedSeries {
		p.logger.Warn("calls_unpriced has reached its bound of provider and model pairs; further pairs are counted as "+unpricedOverflow,
			zap.Int("pairs", maxUnpricedSeries), zap.String("provider", k[0]), zap.String("model", k[1]))
	}
	return o
}

// countMetered counts one metered call.
func (p *costProcessor) countMetered(ctx context.Context, call *genaiconv.Call, m *metered, t *tally) {
	if call.TokenConvention == genaiconv.ConvInclusiveUnverified {
		// An emitter nobody verified: noticed before an invoice is.
		p.telemetry.ProcessorGenaiCostCallsInclusiveUnverified.Add(ctx, 1, metric.WithAttributes(attribute.String("provider", call.Provider)))
	}
	if m.reconciliation == usage.ReconcileDiffers {
		t.costDiffers++
	}
	switch m.status {
	case usage.StatusPriced:
		t.priced++
	case usage.StatusUnpriced:
		t.unpriced++
		model := call.ResponseModel
		if model == "" {
			model = call.RequestModel
		}
		p.telemetry.ProcessorGenaiCostCallsUnpriced.Add(ctx, 1, p.unpricedSeries(call.Provider, model))
	default:
		t.noUsage++
	}
}

// countInvalid counts and logs a call recorded as invalid_usage.
func (p *costProcessor) countInvalid(span ptrace.Span, call *genaiconv.Call, reason string, t *tally) {
	if t.invalid == nil {
		t.invalid = map[string]int64{}
	}
	t.invalid[reason]++
	p.logger.Warn("Recording an LLM call whose usage or time cannot be right as invalid_usage (not priced, not billable)",
		zap.String("trace_id", span.TraceID().String()), zap.String("span_id", span.SpanID().String()),
		zap.String("span", span.Name()), zap.String("reason", strings.Clone(call.Invalid)))
}

// count adds one tally to the counters.
func (p *costProcessor) count(ctx context.Context, t *tally) {
	add := func(v int64, status string) {
		if v > 0 {
			p.telemetry.ProcessorGenaiCostCalls.Add(ctx, v, p.statusAttrs[status])
		}
	}
	add(t.priced, usage.StatusPriced)
	add(t.unpriced, usage.StatusUnpriced)
	add(t.noUsage, usage.StatusNoUsage)
	if t.costDiffers > 0 {
		p.telemetry.ProcessorGenaiCostReportedCostDiffers.Add(ctx, t.costDiffers)
	}
	for r, k := range t.invalid {
		p.telemetry.ProcessorGenaiCostCalls.Add(ctx, k, p.statusAttrs[usage.StatusInvalidUsage])
		p.telemetry.ProcessorGenaiCostCallsInvalid.Add(ctx, k, p.invalidAttrs[r])
	}
	if t.unattributed > 0 {
		p.telemetry.ProcessorGenaiCostCallsUnattributed.Add(ctx, t.unattributed)
	}
	if t.held > 0 {
		p.telemetry.ProcessorGenaiCostCallsHeld.Add(ctx, t.held)
	}
	var released int64
	for r, k := range t.released {
		p.telemetry.ProcessorGenaiCostCallsReleased.Add(ctx, k, p.releaseAttrs[r])
		released += k
	}
	if d := t.held - released; d != 0 {
		p.telemetry.ProcessorGenaiCostPendingCalls.Add(ctx, d)
	}
	p.countBilling(ctx, &t.bill)
}
