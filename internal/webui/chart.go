package webui

import (
	"fmt"
	"math"
	"strconv"
)

// Chart is a line chart drawn on the server as SVG: the page needs no
// script and no library. Values are exact decimal text; floats are used only
// for the geometry, never for a number shown.
type Chart struct {
	Title  string
	Unit   string   // the y axis's unit ("USD", "tokens")
	X      []string // one label a point (days)
	Series []Series
}

// Series is one line.
type Series struct {
	Name   string
	Class  string   // CSS class giving its colour
	Values []string // exact decimals, one per X
}

// chartView is what the SVG template draws.
type chartView struct {
	Title, Unit     string
	W, H            int
	Left, Bottom    int
	Top, Right      int
	YTicks          []tick
	XTicks          []tick
	Lines           []line
	Empty           bool
	ZeroY           float64
	AxisX0, AxisX1  int
	AxisY0, AxisY1  int
	LegendY         int
	Legend          []legend
	AriaDescription string
}

type tick struct {
	Pos   float64
	Label string
}

type line struct {
	Class  string
	Points string
	Dots   []dot
}

type dot struct {
	X, Y  float64
	Title string
}

type legend struct {
	X     int
	Class string
	Name  string
}

func (c Chart) view() chartView {
	v := chartView{Title: c.Title, Unit: c.Unit, W: 640, H: 260, Left: 64, Bottom: 40, Top: 28, Right: 16}
	v.AxisX0, v.AxisX1 = v.Left, v.W-v.Right
	v.AxisY0, v.AxisY1 = v.H-v.Bottom, v.Top
	v.LegendY = 14
	lo, hi := 0.0, 0.0
	n := len(c.X)
	for _, s := range c.Series {
		for _, s := range s.Values {
			f, _ := strconv.ParseFloat(s, 64)
			lo, hi = math.Min(lo, f), math.Max(hi, f)
		}
	}
	if n == 0 {
		v.Empty = true
		return v
	}
	if hi == lo {
		hi = lo + 1
	}
	hi = niceCeil(hi)
	if lo < 0 {
		lo = -niceCeil(-lo)
	}
	plotW := float64(v.AxisX1 - v.AxisX0)
	plotH := float64(v.AxisY0 - v.AxisY1)
	xAt := func(i int) float64 {
		if n == 1 {
			return float64(v.AxisX0) + plotW/2
		}
		return float64(v.AxisX0) + plotW*float64(i)/float64(n-1)
	}
	yAt := func(f float64) float64 { return float64(v.AxisY0) - plotH*(f-lo)/(hi-lo) }
	for i := 0; i <= 4; i++ {
		f := lo + (hi-lo)*float64(i)/4
		v.YTicks = append(v.YTicks, tick{Pos: yAt(f), Label: axisLabel(f)})
	}
	v.ZeroY = yAt(0)
	for _, i := range xTickIdx(n) {
		v.XTicks = append(v.XTicks, tick{Pos: xAt(i), Label: shortDay(c.X[i])})
	}
	for si, s := range c.Series {
		ln := line{Class: s.Class}
		for i, val := range s.Values {
			f, _ := strconv.ParseFloat(val, 64)
			x, y := xAt(i), yAt(f)
			if i > 0 {
				ln.Points += " "
			}
			ln.Points += fmt.Sprintf("%.1f,%.1f", x, y)
			ln.Dots = append(ln.Dots, dot{X: x, Y: y, Title: fmt.Sprintf("%s %s: %s %s", c.X[i], s.Name, val, c.Unit)})
		}
		v.Lines = append(v.Lines, ln)
		v.Legend = append(v.Legend, legend{X: v.Left + si*150, Class: s.Class, Name: s.Name})
	}
	return v
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(f float64) float64 {
	if f <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(f)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= f {
			return m * p
		}
	}
	return 10 * p
}

func axisLabel(f float64) string {
	switch a := math.Abs(f); {
	case a >= 1e6:
		return strconv.FormatFloat(f/1e6, 'f', -1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(f/1e3, 'f', -1, 64) + "k"
	default:
		return strconv.FormatFloat(f, 'g', 4, 64)
	}
}

func xTickIdx(n int) []int {
	if n <= 6 {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	step := (n - 1 + 5) / 6 // at most seven labels: they stay legible at 375 px
	var out []int
	for i := 0; i < n; i += step {
		out = append(out, i)
	}
	if out[len(out)-1] != n-1 {
		out[len(out)-1] = n - 1
	}
	return out
}

// shortDay turns 2026-11-05 into 11-05.
func shortDay(d string) string {
	if len(d) == 10 {
		return d[5:]
	}
	return d
}
