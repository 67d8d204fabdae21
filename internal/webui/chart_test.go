package webui

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestChartAxes: the y axis runs from 0 (or a round negative) to a round
// top, labelled at five ticks; the x axis labels at most seven days, first
// and last included; a point's tooltip keeps the exact decimal.
func TestChartAxes(t *testing.T) {
	days := []string{"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05", "2026-11-06", "2026-11-07", "2026-11-08"}
	v := Chart{Title: "t", Unit: "USD", X: days, Series: []Series{{Name: "cost", Class: "s-cost",
		Values: []string{"0", "1.5", "3.25", "0.000001", "7", "2", "0", "-1.2"}}}}.view()
	var y []string
	for _, tk := range v.YTicks {
		y = append(y, tk.Label)
	}
	assert.Equal(t, "-2", y[0], "a negative margin gets a round negative bottom")
	assert.Equal(t, "10", y[4], "7 rounds up to 10")
	var x []string
	for _, tk := range v.XTicks {
		x = append(x, tk.Label)
	}
	assert.Equal(t, []string{"11-01", "11-02", "11-03", "11-04", "11-05", "11-06", "11-07", "11-08"}[0], x[0])
	assert.Equal(t, "11-08", x[len(x)-1])
	assert.LessOrEqual(t, len(x), 7)
	assert.Equal(t, "2026-11-04 cost: 0.000001 USD", v.Lines[0].Dots[3].Title)
	assert.True(t, Chart{Unit: "USD"}.view().Empty)
}

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0.03: 0.05, 7: 10, 12: 20, 100: 100, 101: 200, 0: 1} {
		assert.InDelta(t, want, niceCeil(in), 1e-12, "%v", in)
	}
}

// TestMoneyText: amounts keep every digit, at least cents, with thousands
// separators.
func TestMoneyText(t *testing.T) {
	for in, want := range map[string]string{"0": "$0.00", "14000": "$14,000.00", "0.000135": "$0.000135", "-23.35": "-$23.35", "1234567.5": "$1,234,567.50"} {
		assert.Equal(t, want, usdText(in), in)
	}
	assert.Equal(t, "'=cmd()", csvSafe("=cmd()"))
	assert.Equal(t, "-$23.35", csvSafe("-$23.35"), "a negative amount stays a number")
	assert.Equal(t, "'@SUM(A1)", csvSafe("@SUM(A1)"))
}
