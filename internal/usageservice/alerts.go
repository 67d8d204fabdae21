package usageservice

import (
	"fmt"
	"net/http"

	"github.com/genaimeter/genaimeter/internal/balances"
)

type alertsResponse struct {
	Alerts []balances.Alert `json:"alerts"`
}

func (s *Service) registerAlerts() {
	// Every tenant's alerts (admin); ?tenant= narrows to one.
	s.handle("GET /v1/alerts", true, func(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
		return s.alerts(r, r.URL.Query().Get("tenant"))
	})
	// One tenant's alerts: a tenant key sees its own (scope refuses others).
	s.handle("GET /v1/tenants/{tenant}/alerts", false, func(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
		return s.alerts(r, r.PathValue("tenant"))
	})
}

func (s *Service) alerts(r *http.Request, tenant string) (any, int, error) {
	q := r.URL.Query()
	status := q.Get("status")
	if status != "" && status != balances.AlertOpen && status != balances.AlertResolved {
		return nil, 0, fail(http.StatusBadRequest, "bad_request", fmt.Sprintf("status: want open or resolved, got %q", status))
	}
	limit, err := parseLimit(q.Get("limit"), 100)
	if err != nil {
		return nil, 0, err
	}
	as, err := s.l.Alerts(r.Context(), balances.AlertFilter{Tenant: tenant, Status: status, Limit: limit}, s.opts.Now())
	if err != nil {
		return nil, 0, err
	}
	return alertsResponse{Alerts: as}, http.StatusOK, nil
}
