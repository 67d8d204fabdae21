package pricing

import (
	"testing"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
)

// TestChargeKeepsExactCredits: a card whose rates are in credits gives the
// call's credits exactly (the rates' amount, before usd_per_credit) beside
// its revenue; a card in USD gives no credits and leaves them untouched.
func TestChargeKeepsExactCredits(t *testing.T) {
	u := Usage{}
	u.SetInputTokens(4100)
	u.SetCacheReadTokens(1000)
	u.SetOutputTokens(730)
	cost := money.MustParse("0.0163")
	for _, tc := range []struct {
		name                 string
		spec                 RateCardSpec
		wantCredits, wantRev string
		hasCredits           bool
	}{
		// (4100×100 + 730×300)/1e6 = 0.629 credits, × 0.01 USD.
		{"credits", RateCardSpec{Rates: map[string]string{"input_mtok": "100", "output_mtok": "300"}, USDPerCredit: "0.01"}, "0.629", "0.00629", true},
		// (3100×3 + 1000×0.3 + 730×15)/1e6 = 0.02055 credits, × 0.0125 USD.
		{"credits, cache rate", RateCardSpec{Rates: map[string]string{"input_mtok": "3", "cache_read_mtok": "0.3", "output_mtok": "15"}, USDPerCredit: "0.0125"}, "0.02055", "0.000256875", true},
		{"zero credits", RateCardSpec{Rates: map[string]string{"input_mtok": "0", "output_mtok": "0"}, USDPerCredit: "0.01"}, "0", "0", true},
		{"markup", RateCardSpec{MarkupPercent: "20"}, "99", "0.01956", false},
		{"usd rates", RateCardSpec{Rates: map[string]string{"input_mtok": "4", "output_mtok": "12"}}, "99", "0.02516", false},
	} {
		rc, err := NewRateCard(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var rev apd.Decimal
		credits := money.MustParse("99")
		has, err := rc.Charge(&u, &cost, &rev, &credits)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if has != tc.hasCredits || money.Format(&credits) != tc.wantCredits || money.Format(&rev) != tc.wantRev {
			t.Errorf("%s: credits %v %s, revenue %s; want %v %s, %s", tc.name, has, money.Format(&credits), money.Format(&rev),
				tc.hasCredits, tc.wantCredits, tc.wantRev)
		}
	}
}
