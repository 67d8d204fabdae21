package balances

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
)

// lastPlan is the plan the tenant's latest balances were kept under (the
// record's plan from billing.plans), "" if none.
func lastPlan(ctx context.Context, q querier, tenant string) (string, error) {
	var plan string
	err := q.query(ctx, `SELECT plan FROM genaimeter_balances WHERE tenant_id = $1 ORDER BY period_start DESC LIMIT 1`, []any{tenant},
		func(scan func(...any) error) error { return scan(&plan) })
	return plan, err
}

// bookAt loads the tenant's balances of the period containing at and its
// grants: what Check and Status answer from (three indexed reads).
func (l *Ledger) bookAt(ctx context.Context, tenant string, at time.Time) (*entitlement.Book, string, error) {
	q := l.be.read()
	plan, err := lastPlan(ctx, q, tenant)
	if err != nil {
		return nil, "", fmt.Errorf("balances: %w", err)
	}
	book := entitlement.NewBook(l.plans.Plans())
	pl, t := book.Plans.PlanFor(tenant, plan)
	if pl != nil {
		start, _ := entitlement.Period(pl, t, at)
		if err := loadBalances(ctx, q, book.Balances, start.Unix(), []string{tenant}); err != nil {
			return nil, "", err
		}
	}
	if err := loadGrants(ctx, q, book, []string{tenant}); err != nil {
		return nil, "", err
	}
	return book, plan, nil
}

// Check answers whether req.Tenant may make a call now, from the balances
// committed so far.
func (l *Ledger) Check(ctx context.Context, req entitlement.CheckRequest) (entitlement.CheckResult, error) {
	book, plan, err := l.bookAt(ctx, req.Tenant, req.At)
	if err != nil {
		return entitlement.CheckResult{}, err
	}
	if req.Plan == "" {
		req.Plan = plan
	}
	return book.Check(req), nil
}

// GrantStatus is a grant as the API shows it.
type GrantStatus struct {
	*entitlement.Grant
	Remaining apd.Decimal
	Voided    bool
}

// Status is a tenant's entitlements: the current period's allowances (as a
// check with no call) and every grant.
type Status struct {
	entitlement.CheckResult
	MonthlyFee apd.Decimal
	Grants     []GrantStatus
	Balances   []*entitlement.Balance
}

// Status returns the tenant's entitlements and balances at at.
func (l *Ledger) Status(ctx context.Context, tenant string, at time.Time) (Status, error) {
	book, plan, err := l.bookAt(ctx, tenant, at)
	if err != nil {
		return Status{}, err
	}
	st := Status{CheckResult: book.Check(entitlement.CheckRequest{Tenant: tenant, Plan: plan, At: at})}
	if pl := book.Plans.Plans[st.Plan]; pl != nil {
		st.MonthlyFee = pl.MonthlyFee
	}
	for _, g := range book.Grants[tenant] {
		st.Grants = append(st.Grants, GrantStatus{Grant: g, Remaining: g.Remaining(), Voided: g.VoidedSeq != 0})
	}
	for _, b := range book.Balances {
		st.Balances = append(st.Balances, b)
	}
	sort.Slice(st.Balances, func(i, j int) bool { return st.Balances[i].Allowance < st.Balances[j].Allowance })
	return st, nil
}

// UsageRow is usage of one group.
type UsageRow struct {
	Day      string // YYYY-MM-DD, when grouped by day
	Feature  string
	Provider string
	Model    string
	Calls    int64
	Unpriced int64
	Input    int64
	Output   int64
	CostUSD  apd.Decimal
	Revenue  apd.Decimal
}

// Usage sums the tenant's daily rollups over [from, to) (whole UTC days),
// grouped by any of "day", "feature", "model" (model groups by provider and
// model), in group order.
func (l *Ledger) Usage(ctx context.Context, tenant string, from, to time.Time, groupBy []string) ([]UsageRow, error) {
	by := map[string]bool{}
	for _, g := range groupBy {
		switch g {
		case "day", "feature", "model":
			by[g] = true
		default:
			return nil, fmt.Errorf("group_by: want day, feature or model, got %q", g)
		}
	}
	groups := map[UsageRow]*UsageRow{}
	err := l.be.read().query(ctx, `SELECT day, feature, provider, model, calls, unpriced_calls, input_tokens, output_tokens, cost_usd::text, revenue_usd::text
		FROM genaimeter_daily_usage WHERE tenant_id = $1 AND day >= $2 AND day < $3`, []any{tenant, dayOf(from), to.Unix()},
		func(scan func(...any) error) error {
			var day int64
			var r UsageRow
			var cost, rev string
			if err := scan(&day, &r.Feature, &r.Provider, &r.Model, &r.Calls, &r.Unpriced, &r.Input, &r.Output, &cost, &rev); err != nil {
				return err
			}
			k := UsageRow{}
			if by["day"] {
				k.Day = time.Unix(day, 0).UTC().Format(time.DateOnly)
			}
			if by["feature"] {
				k.Feature = r.Feature
			}
			if by["model"] {
				k.Provider, k.Model = r.Provider, r.Model
			}
			g := groups[k]
			if g == nil {
				c := k
				g = &c
				groups[k] = g
			}
			g.Calls += r.Calls
			g.Unpriced += r.Unpriced
			g.Input += r.Input
			g.Output += r.Output
			c, err := money.Parse(cost)
			if err != nil {
				return err
			}
			v, err := money.Parse(rev)
			if err != nil {
				return err
			}
			add(&g.CostUSD, &c)
			add(&g.Revenue, &v)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("balances: usage: %w", err)
	}
	out := make([]UsageRow, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.Feature != b.Feature {
			return a.Feature < b.Feature
		}
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		return a.Model < b.Model
	})
	return out, nil
}

// ErrNotFound is a grant or key that does not exist (or, for a tenant key,
// belongs to another tenant: the API does not tell the two apart).
var ErrNotFound = errors.New("not found")

// Grants lists the tenant's grants in burn order.
func (l *Ledger) Grants(ctx context.Context, tenant string) ([]GrantStatus, error) {
	book := entitlement.NewBook(l.plans.Plans())
	if err := loadGrants(ctx, l.be.read(), book, []string{tenant}); err != nil {
		return nil, err
	}
	var out []GrantStatus
	for _, g := range book.Grants[tenant] {
		out = append(out, GrantStatus{Grant: g, Remaining: g.Remaining(), Voided: g.VoidedSeq != 0})
	}
	return out, nil
}

// Grant looks up one grant.
func (l *Ledger) Grant(ctx context.Context, id string) (GrantStatus, error) {
	var g *entitlement.Grant
	err := l.be.read().query(ctx, `SELECT `+grantColumns+` FROM genaimeter_grants WHERE grant_id = $1`, []any{id}, func(scan func(...any) error) error {
		var err error
		g, err = scanGrant(scan)
		return err
	})
	if err != nil {
		return GrantStatus{}, fmt.Errorf("balances: %w", err)
	}
	if g == nil {
		return GrantStatus{}, ErrNotFound
	}
	return GrantStatus{Grant: g, Remaining: g.Remaining(), Voided: g.VoidedSeq != 0}, nil
}

// maxSeq is the ledger position of the last stored record; inside a write
// transaction it is ordered with the inserts.
func maxSeq(ctx context.Context, q querier) (int64, error) {
	var seq int64
	stmt := `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM usage_records_seq`
	if q.sqlite() {
		stmt = `SELECT COALESCE(max(rowid), 0) FROM usage_records`
	}
	err := q.query(ctx, stmt, nil, func(scan func(...any) error) error { return scan(&seq) })
	return seq, err
}

// NewID returns a random identifier with a prefix ("gr_…", "key_…").
func NewID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// CreateGrant stores g (its ID, if empty, is generated) and an audit record
// of actor creating it. The grant applies to calls stored from now on.
func (l *Ledger) CreateGrant(ctx context.Context, g *entitlement.Grant, actor string) error {
	if g.ID == "" {
		g.ID = NewID("gr_")
	}
	if g.Meter == "" {
		g.Meter = entitlement.MeterCredits
	}
	if g.Created.IsZero() {
		g.Created = time.Now().UTC()
	}
	var expires int64
	if !g.Expires.IsZero() {
		expires = g.Expires.UnixNano()
	}
	return l.be.write(ctx, func(q querier) error {
		seq, err := maxSeq(ctx, q)
		if err != nil {
			return fmt.Errorf("balances: create grant: %w", err)
		}
		g.AfterSeq = seq
		if err := q.exec(ctx, `INSERT INTO genaimeter_grants (`+grantColumns2+`) VALUES `+placeholders(1, 12, 1),
			g.ID, g.Tenant, g.Meter, money.Format(&g.Amount), "0", g.Effective.UnixNano(), expires, g.Priority, g.AfterSeq, int64(0), g.Note, g.Created.UnixNano()); err != nil {
			return fmt.Errorf("balances: create grant: %w", err)
		}
		return audit(ctx, q, actor, "grant.create", g.Tenant, g.ID, map[string]any{
			"amount": money.Format(&g.Amount), "meter": g.Meter, "effective": g.Effective, "expires": g.Expires,
			"priority": g.Priority, "after_seq": g.AfterSeq, "note": g.Note,
		})
	})
}

const grantColumns2 = `grant_id, tenant_id, meter, amount, used, effective, expires, priority, after_seq, voided_seq, note, created`

// VoidGrant stops a grant for calls stored from now on (what it already
// covered stays covered) and audits it. Voiding a voided grant is a no-op.
func (l *Ledger) VoidGrant(ctx context.Context, id, actor, reason string) (GrantStatus, error) {
	err := l.be.write(ctx, func(q querier) error {
		var tenant string
		var voided int64
		found := false
		if err := q.query(ctx, `SELECT tenant_id, voided_seq FROM genaimeter_grants WHERE grant_id = $1`, []any{id}, func(scan func(...any) error) error {
			found = true
			return scan(&tenant, &voided)
		}); err != nil {
			return fmt.Errorf("balances: void grant: %w", err)
		}
		if !found {
			return ErrNotFound
		}
		if voided != 0 {
			return nil
		}
		seq, err := maxSeq(ctx, q)
		if err != nil {
			return fmt.Errorf("balances: void grant: %w", err)
		}
		// Seq 0 means "not voided": a grant voided before any record is
		// voided at -1, before every seq.
		if seq == 0 {
			seq = -1
		}
		if err := q.exec(ctx, `UPDATE genaimeter_grants SET voided_seq = $1 WHERE grant_id = $2`, seq, id); err != nil {
			return fmt.Errorf("balances: void grant: %w", err)
		}
		return audit(ctx, q, actor, "grant.void", tenant, id, map[string]any{"voided_seq": seq, "reason": reason})
	})
	if err != nil {
		return GrantStatus{}, err
	}
	return l.Grant(ctx, id)
}

// audit appends an audit record: who did what to which tenant's subject.
func audit(ctx context.Context, q querier, actor, action, tenant, subject string, detail any) error {
	js, err := json.Marshal(detail)
	if err != nil {
		return err
	}
	var t any
	if tenant != "" {
		t = tenant
	}
	if err := q.exec(ctx, `INSERT INTO genaimeter_audit (at, key_id, action, tenant_id, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
		time.Now().UnixNano(), actor, action, t, subject, string(js)); err != nil {
		return fmt.Errorf("balances: audit: %w", err)
	}
	return nil
}

// AuditRecord is one audited change.
type AuditRecord struct {
	Seq     int64
	At      time.Time
	Actor   string
	Action  string
	Tenant  string
	Subject string
	Detail  string
}

// Audit lists audit records after seq, oldest first, at most limit.
func (l *Ledger) Audit(ctx context.Context, after int64, limit int) ([]AuditRecord, error) {
	var out []AuditRecord
	err := l.be.read().query(ctx, `SELECT audit_seq, at, key_id, action, COALESCE(tenant_id, ''), subject, detail FROM genaimeter_audit
		WHERE audit_seq > $1 ORDER BY audit_seq LIMIT $2`, []any{after, limit}, func(scan func(...any) error) error {
		var a AuditRecord
		var at int64
		if err := scan(&a.Seq, &at, &a.Actor, &a.Action, &a.Tenant, &a.Subject, &a.Detail); err != nil {
			return err
		}
		a.At = time.Unix(0, at).UTC()
		out = append(out, a)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("balances: audit: %w", err)
	}
	return out, nil
}
