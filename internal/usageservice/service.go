// Package usageservice is the usage service's HTTP JSON API (version 1,
// documented in openapi.yaml): may a tenant make a call (check), its
// entitlements and balances, its usage by day, feature and model, and grants
// (admin). It answers from package balances, so from the ledger's committed
// state: once a call's ledger write has committed, the next answer counts it.
//
// Every request carries an API key (Authorization: Bearer gmk_...). Admin
// keys see every tenant; a tenant key sees its own tenant and nothing else,
// on every endpoint: another tenant in the path, in a query parameter or in
// a pagination cursor is refused with 403 before anything is read. Each key
// is rate-limited by a token bucket (429 with Retry-After beyond it).
package usageservice

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/webui"
)

// Options tunes the API.
type Options struct {
	// RatePerSecond and Burst size each key's token bucket (defaults 50/s, 100).
	RatePerSecond float64
	Burst         int
	// Now is the clock (tests); time.Now by default.
	Now func() time.Time
	// UI configures the web pages served under /ui (package webui).
	UI webui.Options
}

// Service is the API over one ledger.
type Service struct {
	l    *balances.Ledger
	opts Options
	mux  *http.ServeMux
	ui   *webui.UI

	mu      sync.Mutex
	buckets map[string]*bucket
}

// New returns the API of l.
func New(l *balances.Ledger, opts Options) *Service {
	if opts.RatePerSecond <= 0 {
		opts.RatePerSecond = 50
	}
	if opts.Burst <= 0 {
		opts.Burst = 100
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{l: l, opts: opts, mux: http.NewServeMux(), buckets: map[string]*bucket{}}
	s.handle("GET /v1/me", false, s.me)
	s.handle("GET /v1/tenants/{tenant}/check", false, s.check)
	s.handle("GET /v1/tenants/{tenant}/entitlements", false, s.entitlements)
	s.handle("GET /v1/tenants/{tenant}/usage", false, s.usage)
	s.handle("GET /v1/tenants/{tenant}/grants", true, s.listGrants)
	s.handle("POST /v1/tenants/{tenant}/grants", true, s.createGrant)
	s.handle("GET /v1/grants/{grant}", true, s.getGrant)
	s.handle("POST /v1/grants/{grant}/void", true, s.voidGrant)
	s.handle("GET /v1/audit", true, s.audit)
	s.registerFinance()
	s.registerAlerts()
	// The web pages: the same handler, so the extension and genaimeter
	// serve both serve them.
	if s.opts.UI.Now == nil {
		s.opts.UI.Now = s.opts.Now
	}
	s.ui = webui.New(l, s.opts.UI)
	s.mux.Handle(webui.Base+"/", s.ui)
	s.mux.Handle(webui.Base, s.ui)
	s.handle("GET /v1/tenants/{tenant}/customer-link", true, s.customerLink)
	return s
}

// ServeHTTP serves the API.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// apiError is every error body.
type apiError struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

type handler func(w http.ResponseWriter, r *http.Request, k balances.Key) (any, int, error)

// errStatus carries an HTTP status with a message.
type errStatus struct {
	code   int
	msg    string
	detail string
}

func (e *errStatus) Error() string { return e.msg }

func fail(code int, msg, detail string) error {
	return &errStatus{code: code, msg: msg, detail: detail}
}

var (
	errForbidden = fail(http.StatusForbidden, "forbidden", "this key may not see that tenant")
	errAdminOnly = fail(http.StatusForbidden, "forbidden", "admin key required")
	errNotFound  = fail(http.StatusNotFound, "not_found", "")
)

func (s *Service) handle(pattern string, adminOnly bool, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="genaimeter"`)
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "unauthorized", Detail: "missing API key (Authorization: Bearer gmk_...)"})
			return
		}
		k, err := s.l.Authenticate(r.Context(), tok)
		if err != nil {
			if errors.Is(err, balances.ErrBadKey) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="genaimeter", error="invalid_token"`)
				writeJSON(w, http.StatusUnauthorized, apiError{Error: "unauthorized", Detail: "invalid, unknown or revoked API key"})
				return
			}
			writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal", Detail: err.Error()})
			return
		}
		if wait, ok := s.take(k.ID); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeJSON(w, http.StatusTooManyRequests, apiError{Error: "rate_limited", Detail: "too many requests for this key"})
			return
		}
		body, code, err := func() (any, int, error) {
			if adminOnly && !k.Admin() {
				return nil, 0, errAdminOnly
			}
			if err := s.scope(r, k); err != nil {
				return nil, 0, err
			}
			return h(w, r, k)
		}()
		if err != nil {
			var es *errStatus
			if errors.As(err, &es) {
				writeJSON(w, es.code, apiError{Error: es.msg, Detail: es.detail})
				return
			}
			writeJSON(w, http.StatusInternalServerError, apiError{Error: "internal", Detail: err.Error()})
			return
		}
		writeJSON(w, code, body)
	})
}

// scope refuses a tenant key any request that names another tenant: in the
// path, or in a tenant query parameter.
func (s *Service) scope(r *http.Request, k balances.Key) error {
	if k.Admin() {
		return nil
	}
	if t := r.PathValue("tenant"); t != "" && t != k.Tenant {
		return errForbidden
	}
	for _, name := range []string{"tenant", "tenant_id"} {
		for _, v := range r.URL.Query()[name] {
			if v != k.Tenant {
				return errForbidden
			}
		}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// bucket is one key's token bucket.
type bucket struct {
	tokens float64
	last   time.Time
}

// take spends a token of key's bucket, or says how long until one is there.
func (s *Service) take(key string) (time.Duration, bool) {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(s.opts.Burst), last: now}
		s.buckets[key] = b
	}
	b.tokens = math.Min(float64(s.opts.Burst), b.tokens+now.Sub(b.last).Seconds()*s.opts.RatePerSecond)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / s.opts.RatePerSecond * float64(time.Second)), false
}

// --- responses ---

type meResponse struct {
	KeyID  string `json:"key_id"`
	Admin  bool   `json:"admin"`
	Tenant string `json:"tenant,omitempty"`
}

func (s *Service) me(_ http.ResponseWriter, _ *http.Request, k balances.Key) (any, int, error) {
	return meResponse{KeyID: k.ID, Admin: k.Admin(), Tenant: k.Tenant}, http.StatusOK, nil
}

type allowanceJSON struct {
	Name      string `json:"name"`
	Meter     string `json:"meter"`
	Limit     string `json:"limit"`
	Amount    string `json:"amount"`
	Used      string `json:"used"`
	Included  string `json:"included"`
	Granted   string `json:"granted"`
	Overage   string `json:"overage"`
	Remaining string `json:"remaining"`
}

type checkResponse struct {
	Tenant      string          `json:"tenant"`
	Allowed     bool            `json:"allowed"`
	Reason      string          `json:"reason"`
	Detail      string          `json:"detail,omitempty"`
	Plan        string          `json:"plan,omitempty"`
	PeriodStart *time.Time      `json:"period_start,omitempty"`
	ResetsAt    *time.Time      `json:"resets_at,omitempty"`
	Allowances  []allowanceJSON `json:"allowances"`
}

func dec(d apd.Decimal) string { return money.Format(&d) }

func checkJSON(tenant string, res entitlement.CheckResult, onlyMatching bool) checkResponse {
	out := checkResponse{Tenant: tenant, Allowed: res.Allowed, Reason: res.Reason, Detail: res.Detail, Plan: res.Plan, Allowances: []allowanceJSON{}}
	if !res.ResetsAt.IsZero() {
		ps, ra := res.PeriodStart, res.ResetsAt
		out.PeriodStart, out.ResetsAt = &ps, &ra
	}
	for _, a := range res.Allowances {
		if onlyMatching && !a.Matches {
			continue
		}
		out.Allowances = append(out.Allowances, allowanceJSON{Name: a.Name, Meter: a.Meter, Limit: a.Limit, Amount: dec(a.Amount),
			Used: dec(a.Used), Included: dec(a.Included), Granted: dec(a.Granted), Overage: dec(a.Overage), Remaining: dec(a.Remaining)})
	}
	return out
}

func (s *Service) check(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
	q := r.URL.Query()
	tenant := r.PathValue("tenant")
	res, err := s.l.Check(r.Context(), entitlement.CheckRequest{Tenant: tenant, Feature: q.Get("feature"), Provider: q.Get("provider"),
		Model: q.Get("model"), At: s.opts.Now().UTC()})
	if err != nil {
		return nil, 0, err
	}
	return checkJSON(tenant, res, true), http.StatusOK, nil
}

type balanceJSON struct {
	Allowance       string    `json:"allowance"`
	Plan            string    `json:"plan"`
	Meter           string    `json:"meter"`
	PeriodStart     time.Time `json:"period_start"`
	PeriodEnd       time.Time `json:"period_end"`
	Amount          string    `json:"amount"`
	Used            string    `json:"used"`
	Included        string    `json:"included"`
	Granted         string    `json:"granted"`
	Overage         string    `json:"overage"`
	OverageUSD      string    `json:"overage_usd"`
	Calls           int64     `json:"calls"`
	UnmeteredCalls  int64     `json:"unmetered_calls"`
	OverageUnpriced int64     `json:"overage_unpriced_calls"`
}

type grantJSON struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Meter     string     `json:"meter"`
	Amount    string     `json:"amount"`
	Used      string     `json:"used"`
	Remaining string     `json:"remaining"`
	Priority  int        `json:"priority"`
	Effective time.Time  `json:"effective"`
	Expires   *time.Time `json:"expires,omitempty"`
	Voided    bool       `json:"voided"`
	Note      string     `json:"note,omitempty"`
	Created   time.Time  `json:"created"`
}

func grantOut(g balances.GrantStatus) grantJSON {
	out := grantJSON{ID: g.ID, Tenant: g.Tenant, Meter: g.Meter, Amount: dec(g.Amount), Used: dec(g.Used), Remaining: dec(g.Remaining),
		Priority: g.Priority, Effective: g.Effective, Voided: g.Voided, Note: g.Note, Created: g.Created}
	if !g.Expires.IsZero() {
		e := g.Expires
		out.Expires = &e
	}
	return out
}

type entitlementsResponse struct {
	checkResponse
	MonthlyFee string        `json:"monthly_fee"`
	Balances   []balanceJSON `json:"balances"`
	Grants     []grantJSON   `json:"grants"`
}

func (s *Service) entitlements(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
	tenant := r.PathValue("tenant")
	at := s.opts.Now().UTC()
	if v := r.URL.Query().Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return nil, 0, fail(http.StatusBadRequest, "bad_request", fmt.Sprintf("at: want a date (2026-11-15) or an RFC 3339 time, got %q", v))
			}
		}
		at = t.UTC()
	}
	st, err := s.l.Status(r.Context(), tenant, at)
	if err != nil {
		return nil, 0, err
	}
	out := entitlementsResponse{checkResponse: checkJSON(tenant, st.CheckResult, false), MonthlyFee: dec(st.MonthlyFee),
		Balances: []balanceJSON{}, Grants: []grantJSON{}}
	for _, b := range st.Balances {
		out.Balances = append(out.Balances, balanceJSON{Allowance: b.Allowance, Plan: b.Plan, Meter: b.Meter, PeriodStart: b.Period, PeriodEnd: b.End,
			Amount: dec(b.Amount), Used: dec(b.Used), Included: dec(b.Included), Granted: dec(b.Granted), Overage: dec(b.Overage),
			OverageUSD: dec(b.OverageUSD), Calls: b.Calls, UnmeteredCalls: b.Unmetered, OverageUnpriced: b.OverageUnpriced})
	}
	for _, g := range st.Grants {
		out.Grants = append(out.Grants, grantOut(g))
	}
	return out, http.StatusOK, nil
}

type usageRowJSON struct {
	Day           string `json:"day,omitempty"`
	Feature       string `json:"feature,omitempty"`
	Provider      string `json:"provider,omitempty"`
	Model         string `json:"model,omitempty"`
	Calls         int64  `json:"calls"`
	UnpricedCalls int64  `json:"unpriced_calls"`
	InputTokens   int64  `json:"input_tokens"`
	OutputTokens  int64  `json:"output_tokens"`
	CostUSD       string `json:"cost_usd"`
	RevenueUSD    string `json:"revenue_usd"`
}

type usageResponse struct {
	Tenant     string         `json:"tenant"`
	From       string         `json:"from"`
	To         string         `json:"to"`
	GroupBy    []string       `json:"group_by"`
	Rows       []usageRowJSON `json:"rows"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// cursor is a position in a paged list, bound to the tenant it pages: a
// cursor made for one tenant is refused for another.
type cursor struct {
	Tenant string `json:"t"`
	Offset int    `json:"o"`
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, tenant string) (int, error) {
	if s == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err != nil || json.Unmarshal(b, &c) != nil || c.Offset < 0 {
		return 0, fail(http.StatusBadRequest, "bad_request", "cursor: not a cursor of this API")
	}
	if c.Tenant != tenant {
		return 0, errForbidden
	}
	return c.Offset, nil
}

func parseLimit(s string, def int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, fail(http.StatusBadRequest, "bad_request", fmt.Sprintf("limit: want 1..1000, got %q", s))
	}
	return n, nil
}

func (s *Service) usage(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
	q := r.URL.Query()
	tenant := r.PathValue("tenant")
	now := s.opts.Now().UTC()
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.DateOnly, v); err != nil {
			return nil, 0, fail(http.StatusBadRequest, "bad_request", fmt.Sprintf("from: want a date (2026-11-01), got %q", v))
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.DateOnly, v); err != nil {
			return nil, 0, fail(http.StatusBadRequest, "bad_request", fmt.Sprintf("to: want a date (2026-12-01), got %q", v))
		}
	}
	groupBy := []string{}
	if v := q.Get("group_by"); v != "" {
		groupBy = strings.Split(v, ",")
	}
	limit, err := parseLimit(q.Get("limit"), 100)
	if err != nil {
		return nil, 0, err
	}
	offset, err := decodeCursor(q.Get("cursor"), tenant)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.l.Usage(r.Context(), tenant, from, to, groupBy)
	if err != nil {
		if strings.HasPrefix(err.Error(), "group_by:") {
			return nil, 0, fail(http.StatusBadRequest, "bad_request", err.Error())
		}
		return nil, 0, err
	}
	out := usageResponse{Tenant: tenant, From: from.Format(time.DateOnly), To: to.Format(time.DateOnly), GroupBy: groupBy, Rows: []usageRowJSON{}}
	feature, model := q.Get("feature"), q.Get("model")
	var filtered []balances.UsageRow
	for _, u := range rows {
		if (feature != "" && u.Feature != feature) || (model != "" && u.Model != model) {
			continue
		}
		filtered = append(filtered, u)
	}
	if offset > len(filtered) {
		offset = len(filtered)
	}
	end := min(offset+limit, len(filtered))
	for _, u := range filtered[offset:end] {
		out.Rows = append(out.Rows, usageRowJSON{Day: u.Day, Feature: u.Feature, Provider: u.Provider, Model: u.Model, Calls: u.Calls,
			UnpricedCalls: u.Unpriced, InputTokens: u.Input, OutputTokens: u.Output, CostUSD: dec(u.CostUSD), RevenueUSD: dec(u.Revenue)})
	}
	if end < len(filtered) {
		out.NextCursor = encodeCursor(cursor{Tenant: tenant, Offset: end})
	}
	return out, http.StatusOK, nil
}

type grantsResponse struct {
	Tenant string      `json:"tenant"`
	Grants []grantJSON `json:"grants"`
}

func (s *Service) listGrants(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
	tenant := r.PathValue("tenant")
	gs, err := s.l.Grants(r.Context(), tenant)
	if err != nil {
		return nil, 0, err
	}
	out := grantsResponse{Tenant: tenant, Grants: []grantJSON{}}
	for _, g := range gs {
		out.Grants = append(out.Grants, grantOut(g))
	}
	return out, http.StatusOK, nil
}

type createGrantRequest struct {
	Amount    string     `json:"amount"`
	Meter     string     `json:"meter"`
	Priority  int        `json:"priority"`
	Effective *time.Time `json:"effective"`
	Expires   *time.Time `json:"expires"`
	Note      string     `json:"note"`
}

func (s *Service) createGrant(_ http.ResponseWriter, r *http.Request, k balances.Key) (any, int, error) {
	var req createGrantRequest
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, 0, fail(http.StatusBadRequest, "bad_request", "body: "+err.Error())
	}
	amount, err := money.Parse(req.Amount)
	if err != nil || amount.Sign() <= 0 {
		return nil, 0, fail(http.StatusBadRequest, "bad_request", fmt.Sprintf("amount: want a positive decimal, got %q", req.Amount))
	}
	switch req.Meter {
	case "", entitlement.MeterCredits, entitlement.MeterTokens, entitlement.MeterCostUSD, entitlement.MeterCalls:
	default:
		return nil, 0, fail(http.StatusBadRequest, "bad_request", fmt.Sprintf("meter: want credits, tokens, cost_usd or calls, got %q", req.Meter))
	}
	g := &entitlement.Grant{Tenant: r.PathValue("tenant"), Meter: req.Meter, Amount: amount, Priority: req.Priority, Note: req.Note}
	if req.Effective != nil {
		g.Effective = req.Effective.UTC()
	}
	if req.Expires != nil {
		g.Expires = req.Expires.UTC()
		if !g.Expires.After(g.Effective) {
			return nil, 0, fail(http.StatusBadRequest, "bad_request", "expires: must be after effective")
		}
	}
	if err := s.l.CreateGrant(r.Context(), g, k.ID); err != nil {
		return nil, 0, err
	}
	return grantOut(balances.GrantStatus{Grant: g, Remaining: g.Remaining()}), http.StatusCreated, nil
}

func (s *Service) getGrant(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
	g, err := s.l.Grant(r.Context(), r.PathValue("grant"))
	if errors.Is(err, balances.ErrNotFound) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return grantOut(g), http.StatusOK, nil
}

type voidRequest struct {
	Reason string `json:"reason"`
}

func (s *Service) voidGrant(_ http.ResponseWriter, r *http.Request, k balances.Key) (any, int, error) {
	var req voidRequest
	if r.ContentLength != 0 {
		dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return nil, 0, fail(http.StatusBadRequest, "bad_request", "body: "+err.Error())
		}
	}
	g, err := s.l.VoidGrant(r.Context(), r.PathValue("grant"), k.ID, req.Reason)
	if errors.Is(err, balances.ErrNotFound) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return grantOut(g), http.StatusOK, nil
}

type auditJSON struct {
	Seq     int64           `json:"seq"`
	At      time.Time       `json:"at"`
	KeyID   string          `json:"key_id"`
	Action  string          `json:"action"`
	Tenant  string          `json:"tenant,omitempty"`
	Subject string          `json:"subject"`
	Detail  json.RawMessage `json:"detail"`
}

type auditResponse struct {
	Records []auditJSON `json:"records"`
}

func (s *Service) audit(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
	q := r.URL.Query()
	limit, err := parseLimit(q.Get("limit"), 100)
	if err != nil {
		return nil, 0, err
	}
	var after int64
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil {
			return nil, 0, fail(http.StatusBadRequest, "bad_request", fmt.Sprintf("after: want an audit seq, got %q", v))
		}
	}
	recs, err := s.l.Audit(r.Context(), after, limit)
	if err != nil {
		return nil, 0, err
	}
	out := auditResponse{Records: []auditJSON{}}
	for _, a := range recs {
		out.Records = append(out.Records, auditJSON{Seq: a.Seq, At: a.At, KeyID: a.Actor, Action: a.Action, Tenant: a.Tenant, Subject: a.Subject, Detail: json.RawMessage(a.Detail)})
	}
	return out, http.StatusOK, nil
}

type customerLinkResponse struct {
	Tenant  string    `json:"tenant"`
	Path    string    `json:"path"`
	Expires time.Time `json:"expires"`
}

// customerLink signs a short-lived link to the tenant's customer page, for
// the product to put in an iframe or a link (admin keys only: the product's
// backend asks, the customer's browser opens it).
func (s *Service) customerLink(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
	tenant := r.PathValue("tenant")
	path, exp := s.ui.CustomerLink(tenant)
	return customerLinkResponse{Tenant: tenant, Path: path, Expires: exp}, http.StatusOK, nil
}
