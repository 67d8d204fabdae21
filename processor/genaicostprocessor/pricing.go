package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.opentelemetry.io/collector/pdata/pcommon"
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
	// fetchTimeout bounds one HTTP fetch of a catalog.
	fetchTimeout = 30 * time.Second
	// maxCatalogBytes bounds a fetched catalog (LiteLLM's map is ~1.5 MB).
	maxCatalogBytes = 64 << 20
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
// a pricing.Book, swapped atomically when a refresh brings a new good
// catalog, plus the rate cards and the batch marker.
type pricer struct {
	book   atomic.Pointer[pricing.Book]
	cfg    *PricingConfig
	logger *zap.Logger
	client *http.Client
	// onRefresh counts each refresh by outcome.
	onRefresh func(ok bool)

	mu      sync.Mutex         // serializes rebuilds
	current []*pricing.Catalog // last good catalog of each source

	stop chan struct{}
	wg   sync.WaitGroup

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
		client:      &http.Client{Timeout: fetchTimeout},
		stop:        make(chan struct{}),
		cards:       pricing.RateCards{Plans: map[string]*pricing.RateCard{}, Tenants: map[string]*pricing.RateCard{}},
		batchValues: map[string]bool{},
	}
	if len(cfg.Sources) == 0 {
		p.current = []*pricing.Catalog{pricing.Embedded()}
	}
	for i := range cfg.Sources {
		c, err := p.load(context.Background(), i)
		if err != nil {
			return nil, err
		}
		p.current = append(p.current, c)
	}
	if err := p.rebuild(); err != nil {
		return nil, err
	}
	var err error
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

func sourceName(s SourceConfig) string {
	if s.URL != "" {
		return s.URL
	}
	return s.Path
}

// load reads and parses source i.
func (p *pricer) load(ctx context.Context, i int) (*pricing.Catalog, error) {
	s := p.cfg.Sources[i]
	if s.Embedded {
		return pricing.Embedded(), nil
	}
	name := sourceName(s)
	var data []byte
	var err error
	if s.URL != "" {
		data, err = p.fetch(ctx, s.URL)
	} else {
		data, err = os.ReadFile(s.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("pricing.sources[%d] %s: %w", i, name, err)
	}
	c, warns, err := pricing.Parse(s.Format, data, name)
	if err != nil {
		return nil, fmt.Errorf("pricing.sources[%d] %s: %w", i, name, err)
	}
	if len(warns) > 0 {
		fields := []zap.Field{zap.String("source", name), zap.Int("warnings", len(warns))}
		for k, w := range warns {
			if k == maxLoggedWarnings {
				break
			}
			fields = append(fields, zap.String(fmt.Sprintf("warning_%d", k), w.String()))
		}
		p.logger.Warn("Price catalog loaded with warnings: some prices are not applied (run `genaimeter prices lint` on it)", fields...)
	}
	return c, nil
}

func (p *pricer) fetch(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCatalogBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxCatalogBytes {
		return nil, fmt.Errorf("catalog larger than %d bytes", maxCatalogBytes)
	}
	return data, nil
}

// rebuild layers the current catalogs into a new book and swaps it in.
func (p *pricer) rebuild() error {
	b, err := pricing.NewBook(append([]*pricing.Catalog(nil), p.current...), pricing.BookOptions{Aliases: p.cfg.Aliases})
	if err != nil {
		return err
	}
	p.book.Store(b)
	return nil
}

// startRefresh starts one loop per source with a refresh interval.
func (p *pricer) startRefresh() {
	for i, s := range p.cfg.Sources {
		if s.RefreshInterval <= 0 {
			continue
		}
		p.wg.Add(1)
		go p.refreshLoop(i, s.RefreshInterval)
	}
}

func (p *pricer) refreshLoop(i int, every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-p.stop
		cancel()
	}()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.refresh(ctx, i)
		}
	}
}

// refresh reloads source i: a good catalog is swapped in atomically (calls
// in flight finish with the book they started with); a failure keeps the
// last good one, and is logged and counted.
func (p *pricer) refresh(ctx context.Context, i int) {
	c, err := p.load(ctx, i)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return // shutting down
		}
		p.logger.Error("Price catalog refresh failed: keeping the last good catalog", zap.Error(err))
		p.onRefresh(false)
		return
	}
	p.mu.Lock()
	changed := p.current[i].Version() != c.Version()
	if changed {
		p.current[i] = c
		err = p.rebuild()
	}
	p.mu.Unlock()
	if err != nil {
		p.logger.Error("Price catalog refresh failed: keeping the last good catalog", zap.Error(err))
		p.onRefresh(false)
		return
	}
	if changed {
		p.logger.Info("Price catalog refreshed", zap.String("source", c.Source()), zap.String("version", c.Version()))
	}
	p.onRefresh(true)
}

// shutdown stops the refresh loops; nil-safe and idempotent.
func (p *pricer) shutdown() {
	if p == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	p.wg.Wait()
}

// Price prices one call with the current book.
func (p *pricer) Price(q *pricing.Query, r *pricing.Result) { p.book.Load().Price(q, r) }

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

// applyRevenue writes, at the end of metering, what the book decided beyond
// the cost: the price reference (so the call can be re-priced), the service
// tier, how the model name was read, and the revenue from the rate card of
// the tenant or its plan (as the billing step decided it). tier is the
// call's service tier (tierOf), read once by finish; status the call's
// pricing status and notes what finish has to say about a priced call
// (partial, reported cost), which lead its pricing detail. A span metered
// again (a replay) loses values that no longer apply.
func (p *costProcessor) applyRevenue(attrs pcommon.Map, tenant, plan, tier string, priced *pricing.Result, status string, notes []string, call genaiconv.Call) {
	pr := p.catalog
	putOrRemove(attrs, usage.AttrServiceTier, tier)
	ref := ""
	if priced.Status == pricing.Priced {
		ref = priced.Ref
		if priced.DiscountRef != "" {
			ref += " " + priced.DiscountRef
		}
		if priced.Normalized != "" {
			notes = append(notes, "model name: "+priced.Normalized)
		}
		if priced.ProviderNote != "" {
			// A call of an unknown provider priced as a known model: say
			// whose price it is and why, not silently OpenAI's.
			notes = append(notes, priced.ProviderNote)
		}
		if tier != "" && priced.Tier != tier {
			notes = append(notes, "service tier "+tier+" has no price in the catalog entry: standard price charged")
		}
	}
	if status == usage.StatusPriced {
		putOrRemove(attrs, usage.AttrPricingDetail, strings.Join(notes, "; "))
	}
	putOrRemove(attrs, usage.AttrPriceRef, ref)

	rc := pr.card(tenant, plan)
	revenue := ""
	if rc != nil && (call.Usage.Reported || status == usage.StatusPriced) && (status == usage.StatusPriced || !rc.NeedsCost()) {
		var u pricing.Usage
		setUsage(&u, call.Usage)
		var out apd.Decimal
		if err := rc.Revenue(&u, &priced.Cost, &out); err != nil {
			attrs.PutStr(usage.AttrPricingDetail, "revenue not computed with rate card "+rc.Name()+": "+err.Error())
		} else {
			revenue = money.Format(&out)
		}
	}
	putOrRemove(attrs, usage.AttrRevenueUSD, revenue)
}

func putOrRemove(m pcommon.Map, k, v string) {
	if v == "" {
		m.Remove(k)
		return
	}
	m.PutStr(k, v)
}
