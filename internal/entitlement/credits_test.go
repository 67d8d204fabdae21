package entitlement

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCreditsFromTheRecord: a credits allowance counts the record's own
// exact credits (its rate card's) when it has them, not its revenue at the
// plan's credits_per_usd; a record without credits (a card in USD, or one
// stored before records kept them) still counts its revenue at that rate.
func TestCreditsFromTheRecord(t *testing.T) {
	b := NewBook(loadTestPlans(t))
	r := rec("a", "initech", "pro", "0.01") // 0.01 USD × 1000 credits per USD = 10
	r.CatalogModel = "claude-sonnet-4"      // outside the gpt4o-output filter
	assert.Equal(t, []string{"credits q=10 included=10"}, apply(t, b, 1, r))
	r.EventID, r.Credits = "b", "12.3456789012345678901" // the card's credits, exact
	assert.Equal(t, []string{"credits q=12.3456789012345678901 included=12.3456789012345678901"}, apply(t, b, 2, r))
	r.EventID, r.Credits = "c", "0"
	assert.Equal(t, []string{"credits q=0 included=0"}, apply(t, b, 3, r))
	r.EventID, r.Credits, r.RevenueUSD = "d", "", "" // neither: unmetered, never a silent 0
	assert.Equal(t, []string{"credits unmetered"}, apply(t, b, 4, r))
}
