package usageservice

import (
	"net/http"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/finance"
)

// registerFinance adds the money endpoints of package finance: the margin
// report (admin only: cost and margin are ours, never a tenant's to see) and
// a tenant's invoice preview (its own tenant for a tenant key, which carries
// no cost or margin).
func (s *Service) registerFinance() {
	s.handle("GET /v1/reports/margin", true, s.margin)
	s.handle("GET /v1/tenants/{tenant}/invoice", false, s.invoice)
}

// period reads ?period=YYYY-MM, this month by default.
func (s *Service) period(r *http.Request) (finance.Period, error) {
	v := r.URL.Query().Get("period")
	if v == "" {
		v = s.opts.Now().UTC().Format("2006-01")
	}
	p, err := finance.ParsePeriod(v)
	if err != nil {
		return p, fail(http.StatusBadRequest, "bad_request", err.Error())
	}
	return p, nil
}

func (s *Service) margin(_ http.ResponseWriter, r *http.Request, _ balances.Key) (any, int, error) {
	p, err := s.period(r)
	if err != nil {
		return nil, 0, err
	}
	rep, err := finance.MarginReport(r.Context(), s.l, p)
	if err != nil {
		return nil, 0, err
	}
	return rep.JSON(), http.StatusOK, nil
}

func (s *Service) invoice(_ http.ResponseWriter, r *http.Request, k balances.Key) (any, int, error) {
	p, err := s.period(r)
	if err != nil {
		return nil, 0, err
	}
	inv, err := finance.InvoiceOf(r.Context(), s.l, p, r.PathValue("tenant"), s.opts.Now())
	if err != nil {
		return nil, 0, err
	}
	if inv == nil {
		return nil, 0, fail(http.StatusNotFound, "not_found", "no plan, balances or calls in "+p.Name)
	}
	if !k.Admin() {
		// A tenant's key never sees our cost, not even as an allowance's quantity.
		inv = inv.ForTenant()
	}
	return inv, http.StatusOK, nil
}
