package genaibillingexporter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// defaultCondition bills the records the processor marked billable.
const defaultCondition = `attributes["` + usage.AttrBillable + `"] == true`

func nopSettings() component.TelemetrySettings {
	return component.TelemetrySettings{Logger: zap.NewNop()}
}

func parseConditions(conds []string, set component.TelemetrySettings) ([]*ottl.Condition[*ottllog.TransformContext], error) {
	parser, err := ottllog.NewParser(ottlfuncs.StandardConverters[*ottllog.TransformContext](), set)
	if err != nil {
		return nil, err
	}
	return parser.ParseConditions(conds)
}

// errNoValue is a billable record without the amount a meter needs (a cost
// meter on an unpriced call): it is dead-lettered, never sent as 0.
var errNoValue = errors.New("record has no value for this meter")

// meter is a validated MeterConfig.
type meter struct {
	name    string
	value   string
	scale   apd.Decimal // 1 when not configured
	credits apd.Decimal // credits per USD (value credits only)
}

func newMeters(cfgs []MeterConfig) []meter {
	out := make([]meter, len(cfgs))
	for i, c := range cfgs {
		m := meter{name: c.Name, value: c.Value}
		m.scale.SetInt64(1)
		if c.Scale != "" {
			m.scale = money.MustParse(c.Scale) // checked by Validate
		}
		if c.CreditsPerUSD != "" {
			m.credits = money.MustParse(c.CreditsPerUSD)
		}
		out[i] = m
	}
	return out
}

// amount returns the scaled value of r on m.
func (m *meter) amount(r *usage.Record, d *apd.Decimal) error {
	var tokens int64
	isTokens := true
	switch m.value {
	case valueInputTokens:
		tokens = r.InputTokens
	case valueOutputTokens:
		tokens = r.OutputTokens
	case valueCacheReadTokens:
		tokens = r.CacheReadTokens
	case valueCacheWriteTokens:
		tokens = r.CacheWriteTokens
	case valueReasoningTokens:
		tokens = r.ReasoningTokens
	case valueTotalTokens:
		tokens = r.InputTokens // + output, added below as a decimal
	default:
		isTokens = false
	}
	if isTokens {
		// A call without usage (or with usage that cannot be right) has no
		// token count to bill: its 0 is not a measurement, so it is
		// dead-lettered with the reason, as an unpriced call is on a cost
		// meter. A genuine 0 (a priced call that wrote no cache) is not.
		if r.PricingStatus == usage.StatusNoUsage || r.PricingStatus == usage.StatusInvalidUsage {
			return fmt.Errorf("%w: the call has no token counts to bill (pricing status %q: %s)", errNoValue, r.PricingStatus, r.PricingDetail)
		}
		d.SetInt64(tokens)
		if m.value == valueTotalTokens {
			// Summed as decimals: input + output of two int64 counts can
			// exceed int64 (2^63-1 + 2^63-1 was once sent as "-2").
			var out apd.Decimal
			out.SetInt64(r.OutputTokens)
			if err := money.Add(d, d, &out); err != nil {
				return fmt.Errorf("total tokens: %w", err)
			}
		}
	} else {
		s := r.CostUSD
		if m.value != valueCostUSD {
			s = r.RevenueUSD
		}
		if s == "" {
			return fmt.Errorf("%w: %s is empty (pricing status %q)", errNoValue, m.sourceField(), r.PricingStatus)
		}
		v, err := money.Parse(s)
		if err != nil {
			return fmt.Errorf("%w: %s %q is not a decimal", errNoValue, m.sourceField(), s)
		}
		d.Set(&v)
		if m.value == valueCredits {
			if err := money.Mul(d, d, &m.credits); err != nil {
				return fmt.Errorf("credits conversion: %w", err)
			}
		}
	}
	if err := money.Mul(d, d, &m.scale); err != nil {
		return fmt.Errorf("scale: %w", err)
	}
	return nil
}

func (m *meter) sourceField() string {
	if m.value == valueCostUSD {
		return usage.AttrCostUSD
	}
	return usage.AttrRevenueUSD
}

// event is one billing event: a record's value on one meter, or the sum of
// several records' values over an aggregation window.
type event struct {
	key      string // idempotency key
	meter    string
	tenant   string
	customer string
	time     time.Time
	value    apd.Decimal
	// props are descriptive properties of a single-record event (model,
	// provider...); aggregated events carry only the record count.
	props   map[string]string
	records []int // indexes of the contributing records in the batch
	ids     []string
}

// valueText is the canonical exact text of the value ("1250", "0.000135").
func (e *event) valueText() string { return money.Format(&e.value) }

// isInteger reports whether the value is a whole number.
func (e *event) isInteger() bool { return money.IsInteger(&e.value) }

// singleKey is the idempotency key of one record on one meter: the record's
// event id (trace id + span id, stable across replays) and the meter name.
// At most 48 + 1 + 50 = 99 characters: within Stripe's 100.
func singleKey(eventID, meterName string) string { return eventID + ":" + meterName }

// windowKey is the idempotency key of an aggregated event. It depends only on
// the tenant, meter, window and the exact set of event ids summed, so a
// replay of the same window (retry, persistent-queue redelivery) carries the
// same key and is deduped by the backend, while a window that gains a late
// record gets a new key (and its records are not lost under the old one).
func windowKey(tenant, meterName string, start time.Time, ids []string) string {
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	h := sha256.New()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(meterName))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(start.Unix(), 10)))
	for _, id := range sorted {
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	return "w" + strconv.FormatInt(start.Unix(), 10) + "-" + hex.EncodeToString(h.Sum(nil))[:40]
}

// aggregate sums events per tenant, meter and window, in first-seen order.
func aggregate(evs []*event, window time.Duration) ([]*event, error) {
	type k struct {
		tenant, meter string
		start         int64
	}
	idx := map[k]*event{}
	var out []*event
	for _, e := range evs {
		start := e.time.Truncate(window)
		key := k{e.tenant, e.meter, start.UnixNano()}
		a := idx[key]
		if a == nil {
			a = &event{meter: e.meter, tenant: e.tenant, customer: e.customer, time: start}
			idx[key] = a
			out = append(out, a)
		}
		if err := money.Add(&a.value, &a.value, &e.value); err != nil {
			return nil, fmt.Errorf("aggregate %s/%s: %w", e.tenant, e.meter, err)
		}
		a.records = append(a.records, e.records...)
		a.ids = append(a.ids, e.ids...)
	}
	for _, a := range out {
		a.key = windowKey(a.tenant, a.meter, a.time, a.ids)
		a.props = map[string]string{"records": strconv.Itoa(len(a.ids))}
	}
	return out, nil
}

// condition evaluates the configured OTTL conditions.
type condition struct {
	seq ottl.ConditionSequence[*ottllog.TransformContext]
}

func newCondition(cfg *Config, set component.TelemetrySettings) (*condition, error) {
	conds, err := parseConditions(cfg.Conditions, set)
	if err != nil {
		return nil, err
	}
	seq := ottllog.NewConditionSequence(conds, set, ottllog.WithConditionSequenceErrorMode(cfg.ErrorMode))
	return &condition{seq: seq}, nil
}

func (c *condition) eval(ctx context.Context, tctx *ottllog.TransformContext) (bool, error) {
	return c.seq.Eval(ctx, tctx)
}
