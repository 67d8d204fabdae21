package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/pricing"
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
