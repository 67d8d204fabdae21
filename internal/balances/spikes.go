package balances

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// AlertSpike: a tenant's AI cost (or a feature's within a tenant) in one
// window is above k × its trailing baseline's cost per window and above the
// floor.
const AlertSpike = "spike"

// spikeKey is one window of one tenant (feature "": all its calls).
type spikeKey struct {
	tenant, feature string
	start           int64 // window start, unix seconds
}

type spikeCand struct {
	cfg     entitlement.Spike
	plan    string
	bucket  time.Duration // spikeBucket(cfg)
	last    time.Time
	seq     int64
	eventID string
	spend   apd.Decimal
}

// spikeBucket is the spend bucket a rule reads: the greatest common divisor
// of its window and baseline, so that the window and the baseline before it
// are both whole numbers of buckets (1h for the default 1h/24h rule).
func spikeBucket(s entitlement.Spike) time.Duration {
	a, b := s.Window, s.Baseline
	for b > 0 {
		a, b = b, a%b
	}
	return a
}

// spikes evaluates, in the insert's transaction, the windows the batch's
// calls fall in. Windows are aligned to the window length (a 1h window is a
// clock hour), so an alert's id names its window and a window fires once,
// whatever replays or collectors do. The spend comes from the spend buckets
// (genaimeter_spend), which rollSpend has brought up to this batch: a window
// counts the calls applied so far in ledger order, this batch's included.
// The batch-level work is one upsert of the touched buckets (which returns
// their new totals); only a window above its floor reads more (is it fired
// already, and its baseline).
func spikes(ctx context.Context, q querier, book *entitlement.Book, todo []item, ta *thresholdAlerts) error {
	cands := map[spikeKey]*spikeCand{}
	buckets := map[time.Duration]bool{}
	for _, it := range todo {
		r := it.r
		if r.TenantID == "" {
			continue
		}
		cfg := entitlement.DefaultAlerts().Spike
		planName := ""
		if pl, _ := book.Plans.PlanFor(r.TenantID, r.Plan); pl != nil {
			cfg, planName = pl.Alerts.Spike, pl.Name
		}
		if cfg.Window <= 0 {
			continue
		}
		bucket := spikeBucket(cfg)
		buckets[bucket] = true
		start := r.Time.UTC().Truncate(cfg.Window).Unix()
		features := []string{""} // the tenant's total, and its feature's
		if r.Feature != "" {
			features = append(features, r.Feature)
		}
		for _, f := range features {
			k := spikeKey{tenant: r.TenantID, feature: f, start: start}
			c := cands[k]
			if c == nil {
				c = &spikeCand{cfg: cfg, plan: planName, bucket: bucket}
				cands[k] = c
			}
			if it.seq > c.seq {
				c.seq, c.last, c.eventID = it.seq, r.Time, r.EventID
			}
		}
	}
	totals, err := rollSpend(ctx, q, todo, buckets)
	if err != nil {
		return err
	}
	if len(cands) == 0 {
		return nil
	}
	keys := make([]spikeKey, 0, len(cands))
	for k := range cands {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.tenant != b.tenant {
			return a.tenant < b.tenant
		}
		if a.start != b.start {
			return a.start < b.start
		}
		return a.feature < b.feature
	})
	// The window's spend: one bucket the upsert returned, or (a rule whose
	// baseline is no multiple of its window) its buckets summed.
	var over []spikeKey
	for _, k := range keys {
		c := cands[k]
		start := time.Unix(k.start, 0).UTC()
		if c.bucket == c.cfg.Window {
			if t := totals[spendKey{tenant: k.tenant, feature: k.feature, bucket: c.bucket, start: start.UnixNano()}]; t != nil {
				c.spend = t.cost
			}
		} else if c.spend, _, err = spendBetween(ctx, q, k.tenant, k.feature, c.bucket, start, start.Add(c.cfg.Window)); err != nil {
			return fmt.Errorf("balances: spike %s/%s: %w", k.tenant, k.feature, err)
		}
		if c.spend.Cmp(&c.cfg.Floor) > 0 {
			over = append(over, k)
		}
	}
	if len(over) == 0 {
		return nil
	}
	fired, err := firedAlerts(ctx, q, over)
	if err != nil {
		return err
	}
	for _, k := range over {
		if fired[spikeID(k)] {
			continue
		}
		if err := spikeCheck(ctx, q, k, cands[k], ta); err != nil {
			return fmt.Errorf("balances: spike %s/%s: %w", k.tenant, k.feature, err)
		}
	}
	return nil
}

func spikeID(k spikeKey) string {
	subject := "tenant"
	if k.feature != "" {
		subject = "feature:" + k.feature
	}
	return "spike/" + k.tenant + "/" + subject + "/" + strconv.FormatInt(k.start, 10)
}

// firedAlerts returns which of the windows' spike alerts are stored already.
func firedAlerts(ctx context.Context, q querier, ks []spikeKey) (map[string]bool, error) {
	fired := map[string]bool{}
	for len(ks) > 0 {
		n := chunkSizes(len(ks), inListChunk)[0]
		args := make([]any, n)
		for i, k := range ks[:n] {
			args[i] = spikeID(k)
		}
		if err := q.query(ctx, `SELECT alert_id FROM genaimeter_alerts WHERE alert_id IN (`+inList(n, 1)+`)`, args, func(scan func(...any) error) error {
			var id string
			if err := scan(&id); err != nil {
				return err
			}
			fired[id] = true
			return nil
		}); err != nil {
			return nil, fmt.Errorf("balances: spike alerts: %w", err)
		}
		ks = ks[n:]
	}
	return fired, nil
}

// spikeCheck compares a window above its floor with its baseline.
func spikeCheck(ctx context.Context, q querier, k spikeKey, c *spikeCand, ta *thresholdAlerts) error {
	start := time.Unix(k.start, 0).UTC()
	end := start.Add(c.cfg.Window)
	spend := c.spend
	baseline, first, err := spendBetween(ctx, q, k.tenant, k.feature, c.bucket, start.Add(-c.cfg.Baseline), start)
	if err != nil {
		return err
	}
	// The baseline is averaged over the windows of history it has (a
	// tenant two hours old has a two-window baseline, not 24 with 22
	// empty): spend > k × baseline / windows ⇔ spend × windows > k ×
	// baseline, exact, no division. No history: the floor alone decides.
	var windows int64
	if !first.IsZero() {
		windows = int64(start.Sub(first.UTC().Truncate(c.cfg.Window)) / c.cfg.Window)
	}
	var lhs, rhs apd.Decimal
	_ = money.Mul(&lhs, &spend, apd.New(windows, 0))
	_ = money.Mul(&rhs, &c.cfg.K, &baseline)
	if windows > 0 && lhs.Cmp(&rhs) <= 0 {
		return nil
	}
	subject := "tenant"
	if k.feature != "" {
		subject = "feature:" + k.feature
	}
	return ta.add(Alert{
		ID: spikeID(k), Kind: AlertSpike, Tenant: k.tenant, Subject: subject,
		FiredAt: c.last, WindowStart: start, WindowEnd: end, Seq: c.seq,
		Detail: AlertDetail{Plan: c.plan, Feature: k.feature, SpendUSD: money.Format(&spend), BaselineUSD: money.Format(&baseline),
			BaselineWindows: windows, K: money.Format(&c.cfg.K), FloorUSD: money.Format(&c.cfg.Floor), EventID: c.eventID},
	})
}

// spendBetween sums a tenant's (feature's) spend buckets of length bucket in
// [from, to), exactly, and returns the time of the earliest priced call in
// them (zero if none).
func spendBetween(ctx context.Context, q querier, tenant, feature string, bucket time.Duration, from, to time.Time) (apd.Decimal, time.Time, error) {
	var sum apd.Decimal
	var first int64
	found := false
	err := q.query(ctx, `SELECT cost_usd::text, first_call FROM genaimeter_spend WHERE tenant_id = $1 AND bucket_ns = $2 AND feature = $3
		AND bucket_start >= $4 AND bucket_start < $5`, []any{tenant, int64(bucket), feature, from.UnixNano(), to.UnixNano()},
		func(scan func(...any) error) error {
			var s string
			var f int64
			if err := scan(&s, &f); err != nil {
				return err
			}
			d, err := money.Parse(s)
			if err != nil {
				return err
			}
			add(&sum, &d)
			if !found || f < first {
				first, found = f, true
			}
			return nil
		})
	if err != nil || !found {
		return sum, time.Time{}, err
	}
	return sum, time.Unix(0, first).UTC(), nil
}

// scanTime reads a time column of either store.
func scanTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		return time.Parse(usage.TimeLayout, v)
	}
	return time.Time{}, fmt.Errorf("time of type %T", v)
}
