// Package reconcile compares the costs genaimeter metered with what a
// provider reports it billed: the OpenAI organization costs export
// (GET /v1/organization/costs pages) and the Anthropic Admin API cost report
// (GET /v1/organizations/cost_report pages). Lines are compared per UTC day
// and model; a difference beyond the tolerance, or a line present on one side
// only, is a finding. Amounts are exact decimals: the providers' JSON numbers
// are read as their text, never as floats.
package reconcile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
	"go.yaml.in/yaml/v3"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Providers this package reads.
const (
	OpenAI    = "openai"
	Anthropic = "anthropic"
)

// Line is one provider cost line: a day, the provider's scope (OpenAI
// project, Anthropic workspace or API key; "" when not grouped) and model.
type Line struct {
	Day    time.Time
	Scope  string
	Model  string // as the provider names it
	Amount apd.Decimal
	// Tokens: a usage report line (ParseUsage) carries token counts and no
	// amount; input is the total input, cache reads and writes included.
	Tokens              bool
	InputTokens, Output int64
}

// ParseFile reads one or more provider pages from path: a JSON page, a JSON
// array of pages, or JSON Lines of pages.
func ParseFile(provider, path string) ([]Line, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines, err := Parse(provider, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return lines, nil
}

// Parse reads provider pages from data.
func Parse(provider string, data []byte) ([]Line, error) {
	var pages []json.RawMessage
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &pages); err != nil {
			return nil, err
		}
	default:
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		for dec.More() {
			var p json.RawMessage
			if err := dec.Decode(&p); err != nil {
				return nil, err
			}
			pages = append(pages, p)
		}
	}
	var out []Line
	for i, p := range pages {
		var ls []Line
		var err error
		switch provider {
		case OpenAI:
			ls, err = parseOpenAI(p)
		case Anthropic:
			ls, err = parseAnthropic(p)
		default:
			return nil, fmt.Errorf("provider %q: want openai or anthropic", provider)
		}
		if err != nil {
			return nil, fmt.Errorf("page %d: %w", i+1, err)
		}
		out = append(out, ls...)
	}
	return out, nil
}

// openAIPage is a page of GET /v1/organization/costs.
type openAIPage struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string `json:"object"`
		StartTime int64  `json:"start_time"`
		EndTime   int64  `json:"end_time"`
		Results   []struct {
			Object string `json:"object"`
			Amount *struct {
				Value    json.Number `json:"value"`
				Currency string      `json:"currency"`
			} `json:"amount"`
			LineItem  *string `json:"line_item"`
			ProjectID *string `json:"project_id"`
		} `json:"results"`
	} `json:"data"`
}

func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(v)
}

func parseOpenAI(data []byte) ([]Line, error) {
	var p openAIPage
	if err := decodeStrict(data, &p); err != nil {
		return nil, err
	}
	if p.Object != "page" {
		return nil, fmt.Errorf("object: want \"page\" (an /v1/organization/costs response), got %q", p.Object)
	}
	var out []Line
	for b, bucket := range p.Data {
		day := time.Unix(bucket.StartTime, 0).UTC()
		if bucket.EndTime-bucket.StartTime != 86400 {
			return nil, fmt.Errorf("data[%d]: bucket of %d s: want daily buckets (bucket_width=1d)", b, bucket.EndTime-bucket.StartTime)
		}
		for i, r := range bucket.Results {
			where := fmt.Sprintf("data[%d].results[%d]", b, i)
			if r.Amount == nil {
				return nil, fmt.Errorf("%s: no amount", where)
			}
			if c := strings.ToLower(r.Amount.Currency); c != "usd" {
				return nil, fmt.Errorf("%s.amount.currency: want usd, got %q", where, r.Amount.Currency)
			}
			v, err := money.Parse(r.Amount.Value.String())
			if err != nil {
				return nil, fmt.Errorf("%s.amount.value: %w", where, err)
			}
			l := Line{Day: day, Amount: v}
			if r.ProjectID != nil {
				l.Scope = *r.ProjectID
			}
			if r.LineItem != nil {
				// "gpt-4o-2024-08-06, input": the model, then the kind of usage.
				l.Model, _, _ = strings.Cut(*r.LineItem, ",")
				l.Model = strings.TrimSpace(l.Model)
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// anthropicPage is a page of GET /v1/organizations/cost_report.
type anthropicPage struct {
	Data []struct {
		StartingAt time.Time `json:"starting_at"`
		EndingAt   time.Time `json:"ending_at"`
		Results    []struct {
			Currency    string  `json:"currency"`
			Amount      string  `json:"amount"`
			WorkspaceID *string `json:"workspace_id"`
			Description string  `json:"description"`
			CostType    string  `json:"cost_type"`
			Model       *string `json:"model"`
			ServiceTier *string `json:"service_tier"`
			TokenType   *string `json:"token_type"`
		} `json:"results"`
	} `json:"data"`
	HasMore *bool `json:"has_more"`
}

var hundred = apd.New(100, 0)

func parseAnthropic(data []byte) ([]Line, error) {
	var p anthropicPage
	if err := decodeStrict(data, &p); err != nil {
		return nil, err
	}
	if p.HasMore == nil {
		return nil, errors.New("has_more missing: not a /v1/organizations/cost_report response")
	}
	var out []Line
	for b, bucket := range p.Data {
		if bucket.EndingAt.Sub(bucket.StartingAt) != 24*time.Hour {
			return nil, fmt.Errorf("data[%d]: bucket from %s to %s: want daily buckets (bucket_width=1d)", b, bucket.StartingAt, bucket.EndingAt)
		}
		for i, r := range bucket.Results {
			where := fmt.Sprintf("data[%d].results[%d]", b, i)
			if r.Currency != "USD" {
				return nil, fmt.Errorf("%s.currency: want USD, got %q", where, r.Currency)
			}
			cents, err := money.Parse(r.Amount)
			if err != nil {
				return nil, fmt.Errorf("%s.amount: %w", where, err)
			}
			// The amount is in the currency's lowest unit: cents.
			var usd apd.Decimal
			_, _ = exactQuo.Quo(&usd, &cents, hundred)
			l := Line{Day: bucket.StartingAt.UTC(), Amount: usd}
			if r.WorkspaceID != nil {
				l.Scope = *r.WorkspaceID
			}
			if r.Model != nil {
				l.Model = *r.Model
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// ParseUsageFile reads usage report pages (tokens) from path: OpenAI
// GET /v1/organization/usage/completions or Anthropic GET
// /v1/organizations/usage_report/messages, daily buckets.
func ParseUsageFile(provider, path string) ([]Line, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pages, err := splitPages(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Line
	for i, p := range pages {
		var ls []Line
		switch provider {
		case OpenAI:
			ls, err = parseOpenAIUsage(p)
		case Anthropic:
			ls, err = parseAnthropicUsage(p)
		default:
			return nil, fmt.Errorf("provider %q: want openai or anthropic", provider)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: page %d: %w", path, i+1, err)
		}
		out = append(out, ls...)
	}
	return out, nil
}

func splitPages(data []byte) ([]json.RawMessage, error) {
	var pages []json.RawMessage
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err := json.Unmarshal(trimmed, &pages)
		return pages, err
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	for dec.More() {
		var p json.RawMessage
		if err := dec.Decode(&p); err != nil {
			return nil, err
		}
		pages = append(pages, p)
	}
	return pages, nil
}

func parseOpenAIUsage(data []byte) ([]Line, error) {
	var p struct {
		Object string `json:"object"`
		Data   []struct {
			StartTime int64 `json:"start_time"`
			EndTime   int64 `json:"end_time"`
			Results   []struct {
				Object       string  `json:"object"`
				InputTokens  int64   `json:"input_tokens"`
				OutputTokens int64   `json:"output_tokens"`
				ProjectID    *string `json:"project_id"`
				APIKeyID     *string `json:"api_key_id"`
				Model        *string `json:"model"`
			} `json:"results"`
		} `json:"data"`
	}
	if err := decodeStrict(data, &p); err != nil {
		return nil, err
	}
	if p.Object != "page" {
		return nil, fmt.Errorf("object: want \"page\" (an /v1/organization/usage/completions response), got %q", p.Object)
	}
	var out []Line
	for b, bucket := range p.Data {
		if bucket.EndTime-bucket.StartTime != 86400 {
			return nil, fmt.Errorf("data[%d]: bucket of %d s: want daily buckets (bucket_width=1d)", b, bucket.EndTime-bucket.StartTime)
		}
		for i, r := range bucket.Results {
			if r.Object != "organization.usage.completions.result" {
				return nil, fmt.Errorf("data[%d].results[%d].object: want organization.usage.completions.result, got %q", b, i, r.Object)
			}
			l := Line{Day: time.Unix(bucket.StartTime, 0).UTC(), Tokens: true, InputTokens: r.InputTokens, Output: r.OutputTokens}
			switch {
			case r.ProjectID != nil:
				l.Scope = *r.ProjectID
			case r.APIKeyID != nil:
				l.Scope = *r.APIKeyID
			}
			if r.Model != nil {
				l.Model = *r.Model
			}
			out = append(out, l)
		}
	}
	return out, nil
}

func parseAnthropicUsage(data []byte) ([]Line, error) {
	var p struct {
		Data []struct {
			StartingAt time.Time `json:"starting_at"`
			EndingAt   time.Time `json:"ending_at"`
			Results    []struct {
				Uncached      int64 `json:"uncached_input_tokens"`
				CacheRead     int64 `json:"cache_read_input_tokens"`
				CacheCreation struct {
					OneHour  int64 `json:"ephemeral_1h_input_tokens"`
					FiveMins int64 `json:"ephemeral_5m_input_tokens"`
				} `json:"cache_creation"`
				OutputTokens int64   `json:"output_tokens"`
				WorkspaceID  *string `json:"workspace_id"`
				APIKeyID     *string `json:"api_key_id"`
				Model        *string `json:"model"`
			} `json:"results"`
		} `json:"data"`
		HasMore *bool `json:"has_more"`
	}
	if err := decodeStrict(data, &p); err != nil {
		return nil, err
	}
	if p.HasMore == nil {
		return nil, errors.New("has_more missing: not a /v1/organizations/usage_report/messages response")
	}
	var out []Line
	for b, bucket := range p.Data {
		if bucket.EndingAt.Sub(bucket.StartingAt) != 24*time.Hour {
			return nil, fmt.Errorf("data[%d]: bucket from %s to %s: want daily buckets (bucket_width=1d)", b, bucket.StartingAt, bucket.EndingAt)
		}
		for _, r := range bucket.Results {
			// Our input counts cache reads and writes (OTel semantics).
			l := Line{Day: bucket.StartingAt.UTC(), Tokens: true, Output: r.OutputTokens,
				InputTokens: r.Uncached + r.CacheRead + r.CacheCreation.OneHour + r.CacheCreation.FiveMins}
			switch {
			case r.WorkspaceID != nil:
				l.Scope = *r.WorkspaceID
			case r.APIKeyID != nil:
				l.Scope = *r.APIKeyID
			}
			if r.Model != nil {
				l.Model = *r.Model
			}
			out = append(out, l)
		}
	}
	return out, nil
}

// exactQuo divides by 100, which is exact in decimal.
var exactQuo = apd.Context{Precision: 60, MaxExponent: apd.MaxExponent, MinExponent: apd.MinExponent, Rounding: apd.RoundHalfEven}

// Scope maps a provider scope (project, workspace, API key) to the records it
// covers; empty fields match anything.
type Scope struct {
	Tenant      string `yaml:"tenant"`
	ServiceName string `yaml:"service_name"`
	Environment string `yaml:"environment"`
}

func (s Scope) matches(r *usage.Record) bool {
	return (s.Tenant == "" || s.Tenant == r.TenantID) && (s.ServiceName == "" || s.ServiceName == r.ServiceName) &&
		(s.Environment == "" || s.Environment == r.Environment)
}

// Config is the mapping between a provider's dimensions and ours.
//
//	scopes:                         # provider project / workspace / API key id → our records
//	  proj_abc: {service_name: chat-api, environment: production}
//	  wrkspc_01: {tenant: acme}
//	models:                         # provider model name → catalog model (else the price book's reading)
//	  gpt-4o-2024-08-06: gpt-4o
//	tolerance_percent: "1"          # a day+model within 1 % of our metered figure matches
//	tolerance_usd: "0.01"           # ... or within 1 cent
//
// Without scopes, every record of the provider is compared with every line.
type Config struct {
	Scopes           map[string]Scope  `yaml:"scopes"`
	Models           map[string]string `yaml:"models"`
	TolerancePercent string            `yaml:"tolerance_percent"`
	ToleranceUSD     string            `yaml:"tolerance_usd"`

	pct, usd apd.Decimal
}

// LoadConfig reads a mapping file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.compile(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) compile() error {
	for _, f := range []struct {
		name, v string
		dst     *apd.Decimal
	}{{"tolerance_percent", c.TolerancePercent, &c.pct}, {"tolerance_usd", c.ToleranceUSD, &c.usd}} {
		if f.v == "" {
			continue
		}
		d, err := money.Parse(f.v)
		if err != nil || d.Negative {
			return fmt.Errorf("%s: want a decimal >= 0, got %q", f.name, f.v)
		}
		*f.dst = d
	}
	return nil
}

// Statuses of a compared day+model.
const (
	StatusMatches      = "matches"
	StatusDiffers      = "differs"
	StatusMeteredOnly  = "metered_only"
	StatusProviderOnly = "provider_only"
	StatusUnpriced     = "metered_unpriced"
)

// Row is one day and model.
type Row struct {
	Day                     string // YYYY-MM-DD
	Model                   string // catalog model
	MeteredUSD, ProviderUSD apd.Decimal
	MeteredCalls            int64
	UnpricedCalls           int64 // metered calls without a cost: not in MeteredUSD
	// Tokens: metered input (cache included) and output against the
	// provider's usage report, when one was given (ProviderTokens).
	MeteredInput, MeteredOutput   int64
	ProviderInput, ProviderOutput int64
	ProviderTokens                bool
	TokensDiffer                  bool
	DiffUSD                       apd.Decimal
	DiffPct                       *apd.Decimal // of our metered figure; nil when it is 0
	Status                        string
}

// Finding reports whether the row is beyond tolerance.
func (r *Row) Finding() bool { return r.Status != StatusMatches }

// Reconciler compares one provider's lines with the metered records.
type Reconciler struct {
	provider string
	cfg      *Config
	book     *pricing.Book
	rows     map[[2]string]*Row
	from, to time.Time
}

// New returns a Reconciler of the provider's lines; book reads the
// provider's model names as catalog models.
func New(provider string, cfg *Config, book *pricing.Book, lines []Line) (*Reconciler, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	if err := cfg.compile(); err != nil {
		return nil, err
	}
	rc := &Reconciler{provider: provider, cfg: cfg, book: book, rows: map[[2]string]*Row{}}
	for _, l := range lines {
		if len(cfg.Scopes) > 0 && l.Scope != "" {
			if _, ok := cfg.Scopes[l.Scope]; !ok {
				continue // a project or workspace genaimeter does not meter
			}
		}
		if rc.from.IsZero() || l.Day.Before(rc.from) {
			rc.from = l.Day
		}
		if end := l.Day.Add(24 * time.Hour); end.After(rc.to) {
			rc.to = end
		}
		row := rc.row(l.Day, rc.catalogModel(l.Model, l.Day))
		if l.Tokens {
			row.ProviderTokens = true
			row.ProviderInput += l.InputTokens
			row.ProviderOutput += l.Output
			continue
		}
		add(&row.ProviderUSD, &l.Amount)
	}
	return rc, nil
}

// Range is the days the provider's lines cover: [from, to).
func (rc *Reconciler) Range() (time.Time, time.Time) { return rc.from, rc.to }

func add(dst, x *apd.Decimal) { _ = money.Add(dst, dst, x) }

func (rc *Reconciler) row(day time.Time, model string) *Row {
	k := [2]string{day.UTC().Format(time.DateOnly), model}
	r := rc.rows[k]
	if r == nil {
		r = &Row{Day: k[0], Model: model}
		rc.rows[k] = r
	}
	return r
}

// catalogModel reads a provider model name as the catalog's model, the way
// the records name it.
func (rc *Reconciler) catalogModel(name string, at time.Time) string {
	if m, ok := rc.cfg.Models[name]; ok {
		return m
	}
	if rc.book != nil && name != "" {
		q := pricing.Query{Provider: rc.provider, RequestModel: name, At: at.Add(12 * time.Hour)}
		q.Usage.SetInputTokens(0)
		q.Usage.SetOutputTokens(0)
		var res pricing.Result
		rc.book.Price(&q, &res)
		if res.ModelID != "" {
			return res.ModelID
		}
	}
	return name
}

// Add counts one metered record (records of other providers, scopes or days
// are ignored).
func (rc *Reconciler) Add(r *usage.Record) error {
	if pricing.CanonicalProvider(entitlement.ProviderOf(r)) != rc.provider || r.Time.Before(rc.from) || !r.Time.Before(rc.to) {
		return nil
	}
	if len(rc.cfg.Scopes) > 0 {
		found := false
		for _, s := range rc.cfg.Scopes {
			if s.matches(r) {
				found = true
				break
			}
		}
		if !found {
			return nil
		}
	}
	row := rc.row(r.Time, entitlement.ModelOf(r))
	row.MeteredCalls++
	row.MeteredInput += r.InputTokens
	row.MeteredOutput += r.OutputTokens
	if r.CostUSD == "" {
		row.UnpricedCalls++
		return nil
	}
	c, err := money.Parse(r.CostUSD)
	if err != nil {
		return fmt.Errorf("reconcile: event %s: cost_usd: %w", r.EventID, err)
	}
	add(&row.MeteredUSD, &c)
	return nil
}

var ratio = apd.Context{Precision: 34, MaxExponent: apd.MaxExponent, MinExponent: apd.MinExponent, Rounding: apd.RoundHalfEven}

// Rows compares every day and model, in order.
func (rc *Reconciler) Rows() []Row {
	out := make([]Row, 0, len(rc.rows))
	for _, r := range rc.rows {
		row := *r
		_ = money.Sub(&row.DiffUSD, &row.ProviderUSD, &row.MeteredUSD)
		if row.MeteredUSD.Sign() != 0 {
			var p apd.Decimal
			_, _ = ratio.Quo(&p, &row.DiffUSD, &row.MeteredUSD)
			_, _ = ratio.Mul(&p, &p, hundred)
			_, _ = ratio.Quantize(&p, &p, -2)
			row.DiffPct = &p
		}
		row.Status = rc.status(&row)
		if row.ProviderTokens && (!rc.tokensWithin(row.MeteredInput, row.ProviderInput) || !rc.tokensWithin(row.MeteredOutput, row.ProviderOutput)) {
			row.TokensDiffer = true
			if row.Status == StatusMatches {
				row.Status = StatusDiffers
			}
		}
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Day != out[j].Day {
			return out[i].Day < out[j].Day
		}
		return out[i].Model < out[j].Model
	})
	return out
}

// tokensWithin: |provider - metered| × 100 <= metered × tolerance_percent.
func (rc *Reconciler) tokensWithin(metered, provider int64) bool {
	d := provider - metered
	if d < 0 {
		d = -d
	}
	var diff, lim apd.Decimal
	diff.SetInt64(d)
	_ = money.Mul(&diff, &diff, hundred)
	lim.SetInt64(metered)
	_ = money.Mul(&lim, &lim, &rc.cfg.pct)
	return diff.Cmp(&lim) <= 0
}

func (rc *Reconciler) status(r *Row) string {
	var abs apd.Decimal
	abs.Abs(&r.DiffUSD)
	within := abs.Cmp(&rc.cfg.usd) <= 0
	if !within && r.MeteredUSD.Sign() != 0 {
		// |diff| <= metered × pct / 100, without dividing.
		var lim apd.Decimal
		_ = money.Mul(&lim, &r.MeteredUSD, &rc.cfg.pct)
		var abs100 apd.Decimal
		_ = money.Mul(&abs100, &abs, hundred)
		within = abs100.Cmp(&lim) <= 0
	}
	switch {
	case r.UnpricedCalls > 0:
		// Calls we metered but could not price: the comparison is not
		// complete, whatever the amounts say.
		return StatusUnpriced
	case within:
		return StatusMatches
	case r.MeteredCalls == 0:
		return StatusProviderOnly
	case r.ProviderUSD.IsZero():
		return StatusMeteredOnly
	}
	return StatusDiffers
}

// ReportedRow is, per tenant and model, the cost we metered against the
// cost the span itself reported (the provider's own figure on the call).
type ReportedRow struct {
	Tenant, Model              string
	Calls                      int64
	MeteredUSD, ReportedUSD    apd.Decimal
	Matches, Differs, Unpriced int64
}

// Reported accumulates the per-record comparison.
type Reported struct{ rows map[[2]string]*ReportedRow }

// NewReported returns an empty per-record comparison.
func NewReported() *Reported { return &Reported{rows: map[[2]string]*ReportedRow{}} }

// Add counts r if its span carried a reported cost.
func (rp *Reported) Add(r *usage.Record) error {
	if r.ReportedCostUSD == "" {
		return nil
	}
	k := [2]string{r.TenantID, entitlement.ProviderOf(r) + "/" + entitlement.ModelOf(r)}
	row := rp.rows[k]
	if row == nil {
		row = &ReportedRow{Tenant: k[0], Model: k[1]}
		rp.rows[k] = row
	}
	row.Calls++
	rep, err := money.Parse(r.ReportedCostUSD)
	if err != nil {
		return fmt.Errorf("reconcile: event %s: reported_cost_usd: %w", r.EventID, err)
	}
	add(&row.ReportedUSD, &rep)
	if r.CostUSD == "" {
		row.Unpriced++
	} else {
		c, err := money.Parse(r.CostUSD)
		if err != nil {
			return fmt.Errorf("reconcile: event %s: cost_usd: %w", r.EventID, err)
		}
		add(&row.MeteredUSD, &c)
	}
	switch r.CostReconciliation {
	case usage.ReconcileMatches:
		row.Matches++
	case usage.ReconcileDiffers:
		row.Differs++
	}
	return nil
}

// Rows returns the per-record comparison by tenant and model.
func (rp *Reported) Rows() []ReportedRow {
	out := make([]ReportedRow, 0, len(rp.rows))
	for _, r := range rp.rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Tenant != out[j].Tenant {
			return out[i].Tenant < out[j].Tenant
		}
		return out[i].Model < out[j].Model
	})
	return out
}
