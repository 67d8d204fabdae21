package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/genaiconv"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
)

const (
	// minRefreshInterval keeps a misconfigured refresh from hammering a price server.
	minRefreshInterval = 10 * time.Second
	// maxLoggedWarnings bounds the catalog warnings logged at each load.
	maxLoggedWarnings = 20
)

// Span attributes that carry the service tier of a call, most trusted first:
// the tier the provider says it used, then the tier that was asked for.
var serviceTierKeys = []string{
	"openai.response.service_tier", "gen_ai.openai.response.service_tier",
	"openai.request.service_tier", "gen_ai.openai.request.service_tier",
}

// pricer is the processor's price book: the configured sources layered into
// a pricing.LiveBook (which loads and refreshes them), plus the rate cards
// and the batch marker.
type pricer struct {
	live   *pricing.LiveBook
	cfg    *PricingConfig
	logger *zap.Logger
	// onRefresh counts each refresh by outcome.
	onRefresh func(ok bool)

	// cards picks a call's rate card as genaimeter reprice does
	// (pricing.RateCards.For).
	cards       pricing.RateCards
	batchValues map[string]bool
}

// newPricer loads every source (an unreadable or invalid one fails the
// start, with every problem and its location) and builds the book.
func newPricer(cfg *PricingConfig, logger *zap.Logger, onRefresh func(bool)) (*pricer, error) {
	p := &pricer{
		cfg: cfg, logger: logger, onRefresh: onRefresh,
		cards:       pricing.RateCards{Plans: map[string]*pricing.RateCard{}, Tenants: map[string]*pricing.RateCard{}},
		batchValues: map[string]bool{},
	}
	sources := make([]pricing.Source, len(cfg.Sources))
	for i, s := range cfg.Sources {
		sources[i] = pricing.Source{Format: s.Format, Path: s.Path, URL: s.URL, Embedded: s.Embedded, RefreshInterval: s.RefreshInterval}
	}
	var err error
	p.live, err = pricing.OpenLiveBook(context.Background(), sources, pricing.LiveOptions{
		BookOptions: pricing.BookOptions{Aliases: cfg.Aliases},
		OnLoad:      p.logWarnings,
		OnRefresh:   p.refreshed,
	})
	if err != nil {
		return nil, fmt.Errorf("pricing.%w", err)
	}
	r := &cfg.Revenue
	if r.Default != nil {
		if p.cards.Default, err = pricing.NewRateCard(r.Default.spec("default")); err != nil {
			return nil, fmt.Errorf("pricing.revenue.default: %w", err)
		}
	}
	for k, c := range r.Plans {
		if p.cards.Plans[k], err = pricing.NewRateCard(c.spec("plan:" + k)); err != nil {
			return nil, fmt.Errorf("pricing.revenue.plans.%s: %w", k, err)
		}
	}
	for k, c := range r.Tenants {
		if p.cards.Tenants[k], err = pricing.NewRateCard(c.spec("tenant:" + k)); err != nil {
			return nil, fmt.Errorf("pricing.revenue.tenants.%s: %w", k, err)
		}
	}
	values := cfg.Batch.Values
	if len(values) == 0 {
		values = []string{"true"}
	}
	for _, v := range values {
		p.batchValues[strings.ToLower(v)] = true
	}
	return p, nil
}

// logWarnings logs the warnings of a catalog that loaded all the same.
func (p *pricer) logWarnings(s pricing.Source, _ *pricing.Catalog, warns []pricing.Problem) {
	fields := []zap.Field{zap.String("source", s.Name()), zap.Int("warnings", len(warns))}
	for k, w := range warns {
		if k == maxLoggedWarnings {
			break
		}
		fields = append(fields, zap.String(fmt.Sprintf("warning_%d", k), w.String()))
	}
	p.logger.Warn("Price catalog loaded with warnings: some prices are not applied (run `genaimeter prices lint` on it)", fields...)
}

// refreshed logs and counts one refresh of a source.
func (p *pricer) refreshed(_ pricing.Source, c *pricing.Catalog, changed bool, err error) {
	if err != nil {
		p.logger.Error("Price catalog refresh failed: keeping the last good catalog", zap.Error(fmt.Errorf("pricing.%w", err)))
		p.onRefresh(false)
		return
	}
	if changed {
		p.logger.Info("Price catalog refreshed", zap.String("source", c.Source()), zap.String("version", c.Version()))
	}
	p.onRefresh(true)
}

// startRefresh starts the refresh loops of the sources that have an interval.
func (p *pricer) startRefresh() { p.live.Start() }

// shutdown stops the refresh loops; nil-safe and idempotent.
func (p *pricer) shutdown() {
	if p == nil {
		return
	}
	p.live.Close()
}

// Price prices one call with the current book.
func (p *pricer) Price(q *pricing.Query, r *pricing.Result) { p.live.Price(q, r) }

// tierOf returns the service tier of a call: "batch" when the batch marker
// is set, else the tier its span reports (normalized; "" standard).
func (p *pricer) tierOf(attrs pcommon.Map) string {
	if k := p.cfg.Batch.Attribute; k != "" {
		if v, ok := attrs.Get(k); ok {
			switch v.Type() {
			case pcommon.ValueTypeBool:
				if v.Bool() {
					return "batch"
				}
			case pcommon.ValueTypeStr:
				if p.batchValues[strings.ToLower(v.Str())] {
					return "batch"
				}
			}
		}
	}
	for _, k := range serviceTierKeys {
		if v, ok := attrs.Get(k); ok && v.Type() == pcommon.ValueTypeStr && v.Str() != "" {
			return pricing.NormalizeTier(v.Str())
		}
	}
	return ""
}

// card returns the rate card of a call: the tenant's, else its plan's, else the default.
func (p *pricer) card(tenant, plan string) *pricing.RateCard { return p.cards.For(tenant, plan) }

// countRefresh records one catalog refresh.
func (p *costProcessor) countRefresh(ok bool) {
	outcome := "success"
	if !ok {
		outcome = "failure"
	}
	p.telemetry.ProcessorGenaiCostCatalogRefreshes.Add(context.Background(), 1,
		metric.WithAttributeSet(attribute.NewSet(attribute.String("outcome", outcome))))
}

// price is the metering step that prices a call from the usage it reports
// with the current book, compares the cost it reports with ours (billing the
// reported one instead for a provider the configuration trusts; the record
// says which), and says what finance should read about a priced call: the
// notes of its pricing_detail and the price reference that lets it be
// re-priced.
func (p *costProcessor) price(span ptrace.Span, m *metered) {
	call := m.call
	m.tier = p.pricer.tierOf(span.Attributes())
	m.status, m.detail = usage.StatusNoUsage, noUsageDetail(call)
	priced := &m.priced
	if call.Usage.Reported {
		q := pricing.Query{
			Provider:      call.Provider,
			ResponseModel: call.ResponseModel,
			RequestModel:  call.RequestModel,
			At:            callTime(span),
			Tier:          m.tier,
		}
		setUsage(&q.Usage, call.Usage)
		p.pricer.Price(&q, priced)
		if priced.Status == pricing.Priced {
			m.status, m.detail = usage.StatusPriced, ""
		} else {
			m.status, m.detail = usage.StatusUnpriced, priced.Detail
		}
	}
	var reported apd.Decimal
	dec := p.reconciler.reconcile(call, priced, &reported)
	m.reconciliation = dec.status
	switch {
	case dec.reported:
		priced.Cost.Set(&reported)
		m.status, m.detail = usage.StatusPriced, ""
		m.costSource = usage.CostSourceReported
	case m.status == usage.StatusPriced:
		m.costSource = usage.CostSourceCatalog
	}
	if m.status != usage.StatusPriced {
		return
	}
	m.partial = call.Completion == genaiconv.CompletionStopped
	var notes []string
	switch {
	case m.partial:
		notes = append(notes, partialDetail(call))
	case call.Completion == genaiconv.CompletionUnknown && call.CompletionDetail != "":
		// Priced, but nobody can tell whether the call ran to its end.
		notes = append(notes, call.CompletionDetail)
	}
	if dec.note != "" {
		notes = append(notes, dec.note)
	}
	if priced.Status == pricing.Priced {
		m.priceRef = priced.Ref
		if priced.DiscountRef != "" {
			m.priceRef += " " + priced.DiscountRef
		}
		if priced.Normalized != "" {
			notes = append(notes, "model name: "+priced.Normalized)
		}
		if priced.ProviderNote != "" {
			// A call of an unknown provider priced as a known model: say
			// whose price it is and why, not silently OpenAI's.
			notes = append(notes, priced.ProviderNote)
		}
		if m.tier != "" && priced.Tier != m.tier {
			notes = append(notes, "service tier "+m.tier+" has no price in the catalog entry: standard price charged")
		}
	}
	m.detail = strings.Join(notes, "; ")
}

// charge is the metering step that computes what the customer is charged for
// a call: the revenue from the rate card of its tenant, else of its plan,
// else the default card. A card that needs our cost charges priced calls
// only; a card of rates charges any call that reports usage.
func (p *costProcessor) charge(m *metered) {
	rc := p.pricer.card(m.id[idTenant], m.plan)
	call := m.call
	if rc == nil || !(call.Usage.Reported || m.status == usage.StatusPriced) || (m.status != usage.StatusPriced && rc.NeedsCost()) {
		return
	}
	var u pricing.Usage
	setUsage(&u, call.Usage)
	var out apd.Decimal
	if err := rc.Revenue(&u, &m.priced.Cost, &out); err != nil {
		m.detail = "revenue not computed with rate card " + rc.Name() + ": " + err.Error()
		return
	}
	m.revenue = money.Format(&out)
}

// noUsageDetail says why a call has no usage, for finance: a stopped call,
// or an instrumentation that never reports usage on such calls.
func noUsageDetail(call *genaiconv.Call) string {
	d := "the span reports no token usage"
	if call.Completion == genaiconv.CompletionStopped {
		d += "; the call was stopped before its end"
	}
	if call.CompletionDetail != "" {
		d += "; " + call.CompletionDetail
	}
	return d
}

// partialDetail is the pricing detail of a stopped call priced from the
// usage it reported before it stopped.
func partialDetail(call *genaiconv.Call) string {
	d := "partial: the call was stopped before its end; priced from the usage reported until then (a lower bound)"
	if call.CompletionDetail != "" {
		d += "; " + call.CompletionDetail
	}
	return d
}

// setUsage converts semconv token counts into the catalog's usage keys. Both
// count input as the total including cache reads and writes, and output as
// including reasoning (and audio: input_audio_tokens is a part of
// input_tokens, cache_write_1h_tokens of cache_write_tokens).
//
// The conversion lives in package pricing (Usage.SetCall) so that
// genaimeter reprice prices a stored record exactly as this span was priced.
func setUsage(u *pricing.Usage, c genaiconv.Usage) {
	u.SetCall(pricing.CallUsage{Input: c.Input, Output: c.Output, CacheRead: c.CacheRead, CacheWrite: c.CacheWrite,
		Reasoning: c.Reasoning, InputAudio: c.InputAudio, OutputAudio: c.OutputAudio, CacheWrite1h: c.CacheWrite1h})
}

// callTime is when the call happened for pricing (see usage.CallTime).
func callTime(span ptrace.Span) time.Time { return usage.CallTime(span).AsTime() }
