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
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
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
	last    time.Time
	seq     int64
	eventID string
}

// spikes evaluates, in the insert's transaction, the windows the batch's
// calls fall in. Windows are aligned to the window length (a 1h window is a
// clock hour), so an alert's id names its window and a window fires once,
// whatever replays or collectors do. The rows of the batch are already in
// usage_records, so the window's cost includes them.
func spikes(ctx context.Context, q querier, book *entitlement.Book, todo []item, ta *thresholdAlerts) error {
	cands := map[spikeKey]*spikeCand{}
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
		start := r.Time.UTC().Truncate(cfg.Window).Unix()
		features := []string{""} // the tenant's total, and its feature's
		if r.Feature != "" {
			features = append(features, r.Feature)
		}
		for _, f := range features {
			k := spikeKey{tenant: r.TenantID, feature: f, start: start}
			c := cands[k]
			if c == nil {
				c = &spikeCand{cfg: cfg, plan: planName}
				cands[k] = c
			}
			if it.seq > c.seq {
				c.seq, c.last, c.eventID = it.seq, r.Time, r.EventID
			}
		}
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
	for _, k := range keys {
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

func spikeCheck(ctx context.Context, q querier, k spikeKey, c *spikeCand, ta *thresholdAlerts) error {
	id := spikeID(k)
	fired := false
	if err := q.query(ctx, `SELECT 1 FROM genaimeter_alerts WHERE alert_id = $1`, []any{id}, func(func(...any) error) error {
		fired = true
		return nil
	}); err != nil || fired {
		return err
	}
	start := time.Unix(k.start, 0).UTC()
	end := start.Add(c.cfg.Window)
	spend, _, err := costBetween(ctx, q, k.tenant, k.feature, start, end)
	if err != nil {
		return err
	}
	if spend.Cmp(&c.cfg.Floor) <= 0 {
		return nil
	}
	baseline, first, err := costBetween(ctx, q, k.tenant, k.feature, start.Add(-c.cfg.Baseline), start)
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
	_, _ = exact.Mul(&lhs, &spend, apd.New(windows, 0))
	_, _ = exact.Mul(&rhs, &c.cfg.K, &baseline)
	if windows > 0 && lhs.Cmp(&rhs) <= 0 {
		return nil
	}
	subject := "tenant"
	if k.feature != "" {
		subject = "feature:" + k.feature
	}
	return ta.add(Alert{
		ID: id, Kind: AlertSpike, Tenant: k.tenant, Subject: subject,
		FiredAt: c.last, WindowStart: start, WindowEnd: end, Seq: c.seq,
		Detail: AlertDetail{Plan: c.plan, Feature: k.feature, SpendUSD: money.Format(&spend), BaselineUSD: money.Format(&baseline),
			BaselineWindows: windows, K: money.Format(&c.cfg.K), FloorUSD: money.Format(&c.cfg.Floor), EventID: c.eventID},
	})
}

// costBetween sums the AI cost of a tenant's (feature's) priced calls in
// [from, to), exactly, in Go (SQLite keeps money as text), and returns the
// time of the earliest.
func costBetween(ctx context.Context, q querier, tenant, feature string, from, to time.Time) (apd.Decimal, time.Time, error) {
	var sum apd.Decimal
	var first time.Time
	var lo, hi any = from, to
	if q.sqlite() {
		lo, hi = from.UTC().Format(sqlitestore.TimeLayout), to.UTC().Format(sqlitestore.TimeLayout)
	}
	err := q.query(ctx, `SELECT cost_usd::text, time FROM usage_records WHERE tenant_id = $1 AND time >= $2 AND time < $3
		AND ($4 = '' OR feature = $5) AND cost_usd IS NOT NULL`, []any{tenant, lo, hi, feature, feature}, func(scan func(...any) error) error {
		var s string
		var when any
		if err := scan(&s, &when); err != nil {
			return err
		}
		t, err := scanTime(when)
		if err != nil {
			return err
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		d, err := money.Parse(s)
		if err != nil {
			return err
		}
		add(&sum, &d)
		return nil
	})
	return sum, first, err
}

// scanTime reads a time column of either store.
func scanTime(v any) (time.Time, error) {
	switch v := v.(type) {
	case time.Time:
		return v.UTC(), nil
	case string:
		return time.Parse(sqlitestore.TimeLayout, v)
	}
	return time.Time{}, fmt.Errorf("time of type %T", v)
}
