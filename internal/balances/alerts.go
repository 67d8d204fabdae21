package balances

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Alert kinds.
const (
	AlertThreshold = "threshold" // a % of an allowance or grant was reached
	// AlertViolation: a call to a model the plan does not include, or a
	// call on a hard-limited allowance already used up (check said no; the
	// app called anyway and the call was metered). Once per period and
	// model or allowance, not per call.
	AlertViolation = "plan_violation"
)

// Alert statuses.
const (
	AlertOpen     = "open"     // its window (the period, the grant's life) is still running
	AlertResolved = "resolved" // its window has ended
)

// Alert is one alert that fired, as stored: fired once, in the ledger
// transaction that stored the call which fired it.
type Alert struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Tenant  string `json:"tenant"`
	Subject string `json:"subject"` // "allowance:<name>" or "grant:<id>"
	// FiredAt is the time of the call that fired it; the window is the
	// period (or the grant's life) it fired in.
	FiredAt     time.Time   `json:"fired_at"`
	WindowStart time.Time   `json:"window_start"`
	WindowEnd   time.Time   `json:"window_end"`
	Detail      AlertDetail `json:"detail"`
	Status      string      `json:"status"`
	// Seq is the ledger position of the call that fired it.
	Seq int64 `json:"seq"`

	// Delivery state of the webhook.
	DeliveredAt time.Time `json:"delivered_at,omitzero"`
	Attempts    int       `json:"attempts"`
	DeadReason  string    `json:"dead_reason,omitempty"`
}

// AlertDetail is the numbers behind an alert (decimals as strings).
type AlertDetail struct {
	ThresholdPercent string `json:"threshold_percent,omitempty"`
	Plan             string `json:"plan,omitempty"`
	Allowance        string `json:"allowance,omitempty"`
	Grant            string `json:"grant,omitempty"`
	Meter            string `json:"meter,omitempty"`
	Amount           string `json:"amount,omitempty"` // the allowance's (or grant's) amount
	Used             string `json:"used,omitempty"`   // use after the call that crossed
	EventID          string `json:"event_id,omitempty"`
	// Plan violations: what was violated and the model called.
	Reason string `json:"reason,omitempty"`
	Model  string `json:"model,omitempty"`
	// Spikes: the window's AI cost, the baseline's (over BaselineWindows
	// windows before it), the plan's k and floor.
	Feature         string `json:"feature,omitempty"`
	SpendUSD        string `json:"spend_usd,omitempty"`
	BaselineUSD     string `json:"baseline_usd,omitempty"`
	BaselineWindows int64  `json:"baseline_windows,omitempty"`
	K               string `json:"k,omitempty"`
	FloorUSD        string `json:"floor_usd,omitempty"`
}

// thresholdAlerts collects the alerts of one batch.
type thresholdAlerts struct {
	rows [][]any
	seen map[string]bool // the first of a batch's alerts with one id is the one kept
}

// check looks for thresholds the record at seq crossed, after book.Apply
// gave its splits.
func (ta *thresholdAlerts) check(book *entitlement.Book, seq int64, r *usage.Record, splits []entitlement.Split) error {
	if err := ta.checkModel(book, seq, r); err != nil {
		return err
	}
	if len(splits) == 0 {
		return nil
	}
	tenant, start, ok := book.PeriodOf(r)
	if !ok {
		return nil
	}
	pl, _ := book.Plans.PlanFor(tenant, r.Plan)
	if pl == nil {
		return nil
	}
	for i := range splits {
		sp := &splits[i]
		if sp.Unmetered {
			continue
		}
		bal := book.Balances[entitlement.BalanceKey{Tenant: tenant, Period: start, Allowance: sp.Allowance}]
		if bal == nil {
			continue
		}
		if a := pl.AllowanceNamed(sp.Allowance); a != nil && a.Limit == entitlement.LimitHard && sp.Included.IsZero() && len(sp.Grants) == 0 && sp.Overage.Sign() > 0 {
			if err := ta.add(Alert{
				ID:   "plan_violation/" + tenant + "/" + strconv.FormatInt(start.Unix(), 10) + "/limit:" + sp.Allowance,
				Kind: AlertViolation, Tenant: tenant, Subject: "limit:" + sp.Allowance,
				FiredAt: r.Time, WindowStart: bal.Period, WindowEnd: bal.End, Seq: seq,
				Detail: AlertDetail{Plan: bal.Plan, Allowance: sp.Allowance, Meter: bal.Meter, Amount: money.Format(&bal.Amount),
					Used: money.Format(&bal.Used), Reason: "called after the hard limit was reached (check said no)", EventID: r.EventID},
			}); err != nil {
				return err
			}
		}
		var before apd.Decimal
		_ = money.Sub(&before, &bal.Used, &sp.Quantity)
		for _, th := range pl.Alerts.Crossed(&bal.Amount, &before, &bal.Used) { // none when thresholds are off
			pct := entitlement.Percent(&th)
			if err := ta.add(Alert{
				ID:   "threshold/" + tenant + "/" + strconv.FormatInt(start.Unix(), 10) + "/allowance:" + sp.Allowance + "/" + pct,
				Kind: AlertThreshold, Tenant: tenant, Subject: "allowance:" + sp.Allowance,
				FiredAt: r.Time, WindowStart: bal.Period, WindowEnd: bal.End, Seq: seq,
				Detail: AlertDetail{ThresholdPercent: pct, Plan: bal.Plan, Allowance: sp.Allowance, Meter: bal.Meter,
					Amount: money.Format(&bal.Amount), Used: money.Format(&bal.Used), EventID: r.EventID},
			}); err != nil {
				return err
			}
		}
		for _, gu := range sp.Grants {
			g := findGrant(book.Grants[tenant], gu.Grant)
			if g == nil {
				continue
			}
			var gBefore apd.Decimal
			_ = money.Sub(&gBefore, &g.Used, &gu.Amount)
			for _, th := range pl.Alerts.Crossed(&g.Amount, &gBefore, &g.Used) {
				pct := entitlement.Percent(&th)
				end := g.Expires
				if end.IsZero() {
					end = time.Unix(0, 0).UTC() // no end: open until used up or voided
				}
				if err := ta.add(Alert{
					ID:   "threshold/" + tenant + "/grant:" + g.ID + "/" + pct,
					Kind: AlertThreshold, Tenant: tenant, Subject: "grant:" + g.ID,
					FiredAt: r.Time, WindowStart: g.Effective, WindowEnd: end, Seq: seq,
					Detail: AlertDetail{ThresholdPercent: pct, Plan: bal.Plan, Grant: g.ID, Meter: g.Meter,
						Amount: money.Format(&g.Amount), Used: money.Format(&g.Used), EventID: r.EventID},
				}); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkModel fires when the record's model is not in its plan's models.
func (ta *thresholdAlerts) checkModel(book *entitlement.Book, seq int64, r *usage.Record) error {
	tenant, start, ok := book.PeriodOf(r)
	if !ok {
		return nil
	}
	pl, t := book.Plans.PlanFor(tenant, r.Plan)
	provider, model := entitlement.ProviderOf(r), entitlement.ModelOf(r)
	if pl == nil || model == "" || pl.AllowsModel(provider, model) {
		return nil
	}
	_, end := entitlement.Period(pl, t, r.Time)
	return ta.add(Alert{
		ID:   "plan_violation/" + tenant + "/" + strconv.FormatInt(start.Unix(), 10) + "/model:" + provider + "/" + model,
		Kind: AlertViolation, Tenant: tenant, Subject: "model:" + provider + "/" + model,
		FiredAt: r.Time, WindowStart: start, WindowEnd: end, Seq: seq,
		Detail: AlertDetail{Plan: pl.Name, Model: provider + "/" + model, Reason: "model not in the plan", EventID: r.EventID},
	})
}

func findGrant(gs []*entitlement.Grant, id string) *entitlement.Grant {
	for _, g := range gs {
		if g.ID == id {
			return g
		}
	}
	return nil
}

func (ta *thresholdAlerts) add(a Alert) error {
	if ta.seen[a.ID] {
		return nil
	}
	if ta.seen == nil {
		ta.seen = map[string]bool{}
	}
	ta.seen[a.ID] = true
	detail, err := json.Marshal(a.Detail)
	if err != nil {
		return err
	}
	ta.rows = append(ta.rows, []any{a.ID, a.Kind, a.Tenant, a.Subject, a.FiredAt.UnixNano(), a.WindowStart.UnixNano(),
		a.WindowEnd.UnixNano(), string(detail), a.Seq})
	return nil
}

const alertInsertColumns = `alert_id, kind, tenant_id, subject, fired_at, window_start, window_end, detail, seq`

// save inserts the batch's alerts; one already stored (a replay, another
// collector, an earlier run) is left as it is: that is what makes an alert
// fire once.
func (ta *thresholdAlerts) save(ctx context.Context, q querier) error {
	return insertAlerts(ctx, q, ta.rows)
}

func insertAlerts(ctx context.Context, q querier, rows [][]any) error {
	const n = 9
	for len(rows) > 0 {
		k := chunkSizes(len(rows), maxRows(n))[0]
		args := make([]any, 0, k*n)
		for _, r := range rows[:k] {
			args = append(args, r...)
		}
		if err := q.exec(ctx, `INSERT INTO genaimeter_alerts (`+alertInsertColumns+`) VALUES `+placeholders(k, n, 1)+
			` ON CONFLICT (alert_id) DO NOTHING`, args...); err != nil {
			return fmt.Errorf("balances: save alerts: %w", err)
		}
		rows = rows[k:]
	}
	return nil
}

const alertColumns = `alert_id, kind, tenant_id, subject, fired_at, window_start, window_end, detail, seq,
	delivered_at, attempts, dead_reason`

func scanAlert(scan func(...any) error, now time.Time) (Alert, error) {
	var a Alert
	var fired, ws, we, delivered int64
	var detail string
	if err := scan(&a.ID, &a.Kind, &a.Tenant, &a.Subject, &fired, &ws, &we, &detail, &a.Seq, &delivered, &a.Attempts, &a.DeadReason); err != nil {
		return a, err
	}
	a.FiredAt, a.WindowStart = time.Unix(0, fired).UTC(), time.Unix(0, ws).UTC()
	if we != 0 {
		a.WindowEnd = time.Unix(0, we).UTC()
	}
	if delivered != 0 {
		a.DeliveredAt = time.Unix(0, delivered).UTC()
	}
	if err := json.Unmarshal([]byte(detail), &a.Detail); err != nil {
		return a, fmt.Errorf("alert %s: detail: %w", a.ID, err)
	}
	a.Status = AlertOpen
	if !a.WindowEnd.IsZero() && !now.Before(a.WindowEnd) {
		a.Status = AlertResolved
	}
	return a, nil
}

// AlertFilter selects alerts to list.
type AlertFilter struct {
	Tenant string // "" for every tenant
	Status string // "", AlertOpen or AlertResolved
	Limit  int    // 0: 1000
}

// Alerts lists alerts in the order they fired (ledger order), as of now.
func (l *Ledger) Alerts(ctx context.Context, f AlertFilter, now time.Time) ([]Alert, error) {
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	stmt := `SELECT ` + alertColumns + ` FROM genaimeter_alerts WHERE ($1 = '' OR tenant_id = $2) ORDER BY seq, alert_id`
	out := []Alert{}
	err := l.be.read().query(ctx, stmt, []any{f.Tenant, f.Tenant}, func(scan func(...any) error) error {
		a, err := scanAlert(scan, now)
		if err != nil {
			return err
		}
		if (f.Status == "" || a.Status == f.Status) && len(out) < f.Limit {
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("balances: alerts: %w", err)
	}
	return out, nil
}

// ClaimAlerts claims up to limit alerts due for delivery (not delivered,
// not dead, not claimed by a sender whose lease runs past now) until now +
// lease, and counts the attempt. Collectors sharing a ledger claim
// different alerts; an alert whose sender died is claimed again when its
// lease ends. Receivers dedupe on the alert id for that case.
func (l *Ledger) ClaimAlerts(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Alert, error) {
	return l.claim(ctx, `delivered_at = 0 AND dead_reason = '' AND claimed_until <= $1`, `claimed_until = $1, attempts = attempts + 1`, now, lease, limit)
}

// ClaimAlertLogs is ClaimAlerts for the log-record outbox (the genai_alerts
// receiver): alerts not emitted as log records yet.
func (l *Ledger) ClaimAlertLogs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Alert, error) {
	return l.claim(ctx, `logged_at = 0 AND log_claimed_until <= $1`, `log_claimed_until = $1`, now, lease, limit)
}

// AlertsLogged records that the alerts were emitted as log records.
func (l *Ledger) AlertsLogged(ctx context.Context, ids []string, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := []any{at.UnixNano()}
	for _, id := range ids {
		args = append(args, id)
	}
	return l.alertUpdate(ctx, `UPDATE genaimeter_alerts SET logged_at = $1 WHERE alert_id IN (`+inList(len(ids), 2)+`)`, args...)
}

func (l *Ledger) claim(ctx context.Context, due, set string, now time.Time, lease time.Duration, limit int) ([]Alert, error) {
	var out []Alert
	err := l.be.write(ctx, func(q querier) error {
		var ids []any
		lock := ` FOR UPDATE SKIP LOCKED`
		if q.sqlite() {
			lock = ``
		}
		if err := q.query(ctx, `SELECT alert_id FROM genaimeter_alerts WHERE `+due+`
			ORDER BY seq, alert_id LIMIT $2`+lock, []any{now.UnixNano(), limit}, func(scan func(...any) error) error {
			var id string
			if err := scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		}); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		args := append([]any{now.Add(lease).UnixNano()}, ids...)
		if err := q.exec(ctx, `UPDATE genaimeter_alerts SET `+set+` WHERE alert_id IN (`+inList(len(ids), 2)+`)`, args...); err != nil {
			return err
		}
		return q.query(ctx, `SELECT `+alertColumns+` FROM genaimeter_alerts WHERE alert_id IN (`+inList(len(ids), 1)+`) ORDER BY seq, alert_id`, ids,
			func(scan func(...any) error) error {
				a, err := scanAlert(scan, now)
				if err != nil {
					return err
				}
				out = append(out, a)
				return nil
			})
	})
	if err != nil {
		return nil, fmt.Errorf("balances: claim alerts: %w", err)
	}
	return out, nil
}

// AlertDelivered records that the webhook took the alert.
func (l *Ledger) AlertDelivered(ctx context.Context, id string, at time.Time) error {
	return l.alertUpdate(ctx, `UPDATE genaimeter_alerts SET delivered_at = $1 WHERE alert_id = $2`, at.UnixNano(), id)
}

// AlertRetryAt leaves the alert undelivered and due again at next (backoff,
// or the receiver's Retry-After).
func (l *Ledger) AlertRetryAt(ctx context.Context, id string, next time.Time) error {
	return l.alertUpdate(ctx, `UPDATE genaimeter_alerts SET claimed_until = $1 WHERE alert_id = $2`, next.UnixNano(), id)
}

// AlertDead gives up on delivering the alert, with the reason.
func (l *Ledger) AlertDead(ctx context.Context, id, reason string) error {
	if reason == "" {
		reason = "unknown"
	}
	return l.alertUpdate(ctx, `UPDATE genaimeter_alerts SET dead_reason = $1 WHERE alert_id = $2`, reason, id)
}

func (l *Ledger) alertUpdate(ctx context.Context, stmt string, args ...any) error {
	if err := l.be.read().exec(ctx, stmt, args...); err != nil {
		return fmt.Errorf("balances: alert: %w", err)
	}
	return nil
}
