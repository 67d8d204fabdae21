package genaiusageconnector // import "github.com/genaimeter/genaimeter/connector/genaiusageconnector"

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// Config is the configuration of the genai_usage connector. The traces→logs
// flavour uses Dedupe; the traces→metrics flavour uses Dedupe and Metrics.
type Config struct {
	// Dedupe is the duplicate window: a metered call whose event id (trace id +
	// span id) was seen inside it is not emitted again. Each flavour (logs,
	// metrics) keeps its own window.
	Dedupe DedupeConfig `mapstructure:"dedupe"`
	// Metrics configures the usage metrics of the traces→metrics flavour.
	Metrics MetricsConfig `mapstructure:"metrics"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// DedupeConfig bounds the set of event ids remembered to suppress duplicates
// (exporter retries, replayed batches) both in time and in count.
type DedupeConfig struct {
	// Window is how long an event id is remembered. 0 turns suppression off.
	// Default 10m.
	Window time.Duration `mapstructure:"window"`
	// MaxEntries is the most event ids remembered; the oldest is forgotten
	// first (and counted) when the window is full. Default 100000.
	MaxEntries int `mapstructure:"max_entries"`

	_ struct{}
}

// MetricsConfig configures the usage metrics.
type MetricsConfig struct {
	// FlushInterval is how often the aggregated metrics are emitted. Default 15s.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// Temporality of the sums: "cumulative" or "delta". Default cumulative.
	Temporality string `mapstructure:"temporality"`
	// CardinalityLimit is the most series each metric holds, overflow series
	// included (as the OTel SDK counts it). A call that would make one more goes
	// to the series {otel.metric.overflow=true}. Default 2000.
	CardinalityLimit int `mapstructure:"cardinality_limit"`
	// CardinalityLimitPerTenant is the most series one tenant holds in each
	// metric. A call of a tenant at its limit goes to the series
	// {tenant_id=<tenant>, otel.metric.overflow=true}, so cost by tenant stays
	// exact. 0 turns the per-tenant limit off. Default 200.
	CardinalityLimitPerTenant int `mapstructure:"cardinality_limit_per_tenant"`
	// SeriesExpiration drops, with cumulative temporality, a series that
	// received no call for this long (checked at each flush, after its last
	// point is emitted), freeing its slot under both cardinality limits; a call
	// after that starts it again with a new start time (a counter reset). 0
	// keeps series for the collector's lifetime. Ignored with delta, which
	// drops every series at each flush. Default 1h.
	SeriesExpiration time.Duration `mapstructure:"series_expiration"`
	// ExcludeDimensions names built-in dimensions to leave out (tenant_id,
	// provider, model, operation, feature, billable, pricing_status, plan).
	// Default none.
	ExcludeDimensions []string `mapstructure:"exclude_dimensions"`
	// Dimensions are added after the built-in ones: each is read from the span
	// attribute of that name, else the resource attribute. Default none.
	Dimensions []Dimension `mapstructure:"dimensions"`
	// Exemplars configures the exemplars (trace id, span id) on the calls and
	// cost data points.
	Exemplars ExemplarsConfig `mapstructure:"exemplars"`

	_ struct{}
}

// Dimension is an extra metric dimension read from a span or resource attribute
// (a genaimeter.* attribute or any other).
type Dimension struct {
	// Name is the attribute key on the span or resource and the dimension's name
	// on the data points.
	Name string `mapstructure:"name"`
	// Default is the value used when neither the span nor its resource has the
	// attribute. Without it, such calls have no value for the dimension.
	Default *string `mapstructure:"default"`

	_ struct{}
}

// ExemplarsConfig configures exemplars.
type ExemplarsConfig struct {
	// Enabled attaches to each calls and cost data point the last call of the
	// flush interval as an exemplar. Default true.
	Enabled bool `mapstructure:"enabled"`

	_ struct{}
}

const (
	temporalityCumulative = "cumulative"
	temporalityDelta      = "delta"
)

var _ confmap.Validator = (*Config)(nil)

// Validate checks the configuration; it names every bad key and value.
func (c *Config) Validate() error {
	var errs error
	if c.Dedupe.Window < 0 {
		errs = errors.Join(errs, fmt.Errorf("dedupe.window: must be >= 0, got %v", c.Dedupe.Window))
	}
	if c.Dedupe.Window > 0 && c.Dedupe.MaxEntries < 1 {
		errs = errors.Join(errs, fmt.Errorf("dedupe.max_entries: must be >= 1 when dedupe.window is set, got %d", c.Dedupe.MaxEntries))
	}
	m := &c.Metrics
	if m.FlushInterval <= 0 {
		errs = errors.Join(errs, fmt.Errorf("metrics.flush_interval: must be > 0, got %v", m.FlushInterval))
	}
	if m.Temporality != temporalityCumulative && m.Temporality != temporalityDelta {
		errs = errors.Join(errs, fmt.Errorf("metrics.temporality: must be %q or %q, got %q", temporalityCumulative, temporalityDelta, m.Temporality))
	}
	// One series and the overflow series.
	if m.CardinalityLimit < 2 {
		errs = errors.Join(errs, fmt.Errorf("metrics.cardinality_limit: must be >= 2, got %d", m.CardinalityLimit))
	}
	if m.CardinalityLimitPerTenant < 0 {
		errs = errors.Join(errs, fmt.Errorf("metrics.cardinality_limit_per_tenant: must be >= 0, got %d", m.CardinalityLimitPerTenant))
	}
	// An expiry shorter than a flush interval would reset series that are
	// called every interval: delta temporality with extra steps.
	switch {
	case m.SeriesExpiration < 0:
		errs = errors.Join(errs, fmt.Errorf("metrics.series_expiration: must be >= 0, got %v", m.SeriesExpiration))
	case m.SeriesExpiration > 0 && m.FlushInterval > 0 && m.SeriesExpiration < m.FlushInterval:
		errs = errors.Join(errs, fmt.Errorf("metrics.series_expiration: must be 0 or >= metrics.flush_interval (%v), got %v", m.FlushInterval, m.SeriesExpiration))
	}
	excluded := map[string]bool{}
	for i, name := range m.ExcludeDimensions {
		if !slices.Contains(builtinDimensionNames, name) {
			errs = errors.Join(errs, fmt.Errorf("metrics.exclude_dimensions[%d]: unknown built-in dimension %q (built-in: %v)", i, name, builtinDimensionNames))
		}
		excluded[name] = true
	}
	if m.CardinalityLimitPerTenant > 0 && excluded[dimTenant] {
		errs = errors.Join(errs, fmt.Errorf("metrics.cardinality_limit_per_tenant: needs the %s dimension, which metrics.exclude_dimensions removes (set it to 0)", dimTenant))
	}
	seen := map[string]bool{}
	for i, d := range m.Dimensions {
		switch {
		case d.Name == "":
			errs = errors.Join(errs, fmt.Errorf("metrics.dimensions[%d].name: must not be empty", i))
		case d.Name == overflowKey:
			errs = errors.Join(errs, fmt.Errorf("metrics.dimensions[%d].name: %q is reserved for overflow series", i, d.Name))
		case slices.Contains(builtinDimensionNames, d.Name) && !excluded[d.Name]:
			errs = errors.Join(errs, fmt.Errorf("metrics.dimensions[%d].name: %q is a built-in dimension", i, d.Name))
		case seen[d.Name]:
			errs = errors.Join(errs, fmt.Errorf("metrics.dimensions[%d].name: %q is listed twice", i, d.Name))
		}
		seen[d.Name] = true
	}
	return errs
}
