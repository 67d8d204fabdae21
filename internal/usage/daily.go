package usage

import "time"

// DailyUsage is one row of the ledger's daily usage rollup: the calls of one
// tenant on one UTC day under one plan (the records' Plan), feature, provider
// and model (the catalog's before the span's), with their exact cost and
// revenue as decimal text (summed exactly by the ledger's writers).
type DailyUsage struct {
	Tenant                         string // Unattributed for calls without one
	Day                            time.Time
	Plan, Feature, Provider, Model string
	Calls                          int64
	// UnpricedCalls are calls without a cost (CostUSD ""): not in CostUSD.
	UnpricedCalls             int64
	InputTokens, OutputTokens int64
	CostUSD, RevenueUSD       string
}
