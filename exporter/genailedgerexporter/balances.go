package genailedgerexporter

import (
	"fmt"

	"go.opentelemetry.io/collector/component"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
)

// balancesPlans finds the genai_usage_service extension named by the
// balances setting and returns its plans. Extensions start before the
// pipelines, so its plans are loaded by now.
func balancesPlans(host component.Host, id component.ID) (*entitlement.Source, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("balances: extension %q is not configured (add it to service.extensions)", id)
	}
	p, ok := ext.(balances.Provider)
	if !ok || p.BalancesPlans() == nil {
		return nil, fmt.Errorf("balances: extension %q is not a genai_usage_service extension", id)
	}
	return p.BalancesPlans(), nil
}
