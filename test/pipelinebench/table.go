package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// pipeline is one of the three collectors the harness compares.
type pipeline string

const (
	pFloor pipeline = "floor"
	pCost  pipeline = "cost"
	pFull  pipeline = "full"
	// pNoBal is the full pipeline without the balances hook: the split
	// between the ledger's insert and its rollups.
	pNoBal pipeline = "nobal"
)

// stores reports whether the pipeline's figure is records stored.
func (p pipeline) stores() bool { return p == pFull || p == pNoBal }

var pipelineLabel = map[pipeline]string{
	pFloor: "stock otlp → nop (floor)",
	pCost:  "otlp → genai_cost → nop",
	pFull:  "otlp → genai_cost → genai_usage → genai_ledger + balances (SQLite, stored)",
	pNoBal: "the same without balances (SQLite, stored)",
}

// run is one measured window of one pipeline on one shape in one round.
type run struct {
	pipeline pipeline
	shape    shape
	round    int
	seconds  float64
	// spans and calls the collector accepted in the window (floor and cost:
	// what it processed; the full pipeline queues, so its figure is stored).
	spans, calls int64
	// stored records in the window (full pipeline only).
	stored   int64
	cpuTicks int64
	// allocBytes in the window, from the collector's own telemetry; < 0 when
	// it was not available.
	allocBytes float64
	hwmKiB     int64
	refused    int64
}

// callsDone is the calls the run counts: stored ones for the full pipeline.
func (r run) callsDone() int64 {
	if r.pipeline.stores() {
		return r.stored
	}
	return r.calls
}

// spansDone is the spans of callsDone's traces for the full pipeline (the
// spans whose calls reached the store), else the spans accepted.
func (r run) spansDone() int64 {
	if r.pipeline.stores() {
		return r.stored * int64(r.shape.spansPerTrace)
	}
	return r.spans
}

func (r run) spansPerSec() float64 { return float64(r.spansDone()) / r.seconds }
func (r run) callsPerSec() float64 { return float64(r.callsDone()) / r.seconds }

// cpuMicros is the collector's CPU time (user + system) in the window, µs.
func (r run) cpuMicros() float64 { return float64(r.cpuTicks) * 1e6 / clockTicks }

func (r run) cpuPerSpan() float64 { return perUnit(r.cpuMicros(), r.spansDone()) }
func (r run) cpuPerCall() float64 { return perUnit(r.cpuMicros(), r.callsDone()) }
func (r run) allocPerCall() float64 {
	if r.allocBytes < 0 {
		return math.NaN()
	}
	return perUnit(r.allocBytes, r.callsDone())
}

func perUnit(total float64, n int64) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return total / float64(n)
}

// median of the non-NaN values; NaN if none.
func median(xs []float64) float64 {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// ratios pairs each round's value of a with the same round's value of b
// (a/b), so that a round where the whole machine was slow cancels out.
func ratios(a, b map[int]float64) []float64 {
	var out []float64
	for round, x := range a {
		if y, ok := b[round]; ok && y > 0 {
			out = append(out, x/y)
		}
	}
	return out
}

// results are all runs of an invocation, and the bare insert rate per round.
type results struct {
	runs []run
	bare map[int]float64 // round → rows/s
}

func (rs *results) byRound(p pipeline, s string, f func(run) float64) map[int]float64 {
	out := map[int]float64{}
	for _, r := range rs.runs {
		if r.pipeline == p && r.shape.name == s {
			out[r.round] = f(r)
		}
	}
	return out
}

func values(m map[int]float64) []float64 {
	out := make([]float64, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func minMax(xs []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if math.IsNaN(x) {
			continue
		}
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// row is one line of the printed table: medians over the rounds.
type row struct {
	label                  string
	spansPerSec, lo, hi    float64
	callsPerSec            float64
	vsFloor                float64 // median of per-round ratios, spans/s
	cpuPerSpan, cpuPerCall float64 // µs
	extraCPUPerCall        float64 // µs more than the floor, per call
	allocPerCall           float64 // bytes
	hwmMiB                 float64
	refused                float64
	rounds                 int
}

// table computes the rows of one shape.
func (rs *results) table(s shape) []row {
	floorSpans := rs.byRound(pFloor, s.name, run.spansPerSec)
	floorCPUSpan := rs.byRound(pFloor, s.name, run.cpuPerSpan)
	var out []row
	for _, p := range []pipeline{pFloor, pCost, pFull, pNoBal} {
		sp := rs.byRound(p, s.name, run.spansPerSec)
		if len(sp) == 0 {
			continue
		}
		lo, hi := minMax(values(sp))
		r := row{
			label:        pipelineLabel[p],
			spansPerSec:  median(values(sp)),
			lo:           lo,
			hi:           hi,
			callsPerSec:  median(values(rs.byRound(p, s.name, run.callsPerSec))),
			vsFloor:      median(ratios(sp, floorSpans)),
			cpuPerSpan:   median(values(rs.byRound(p, s.name, run.cpuPerSpan))),
			cpuPerCall:   median(values(rs.byRound(p, s.name, run.cpuPerCall))),
			allocPerCall: median(values(rs.byRound(p, s.name, run.allocPerCall))),
			hwmMiB:       median(values(rs.byRound(p, s.name, func(r run) float64 { return float64(r.hwmKiB) / 1024 }))),
			refused:      median(values(rs.byRound(p, s.name, func(r run) float64 { return float64(r.refused) }))),
			rounds:       len(sp),
		}
		// Extra CPU per call over the floor: (CPU/span − floor CPU/span) ×
		// spans per call, per round.
		extra := map[int]float64{}
		for round, c := range rs.byRound(p, s.name, run.cpuPerSpan) {
			if f, ok := floorCPUSpan[round]; ok {
				extra[round] = (c - f) * float64(s.spansPerTrace)
			}
		}
		r.extraCPUPerCall = median(values(extra))
		out = append(out, r)
	}
	return out
}

// vsBare is the median of per-round ratios of a storing pipeline's stored
// calls/s to the bare insert's rows/s.
func (rs *results) vsBare(p pipeline, s shape) float64 {
	return median(ratios(rs.byRound(p, s.name, run.callsPerSec), rs.bare))
}

func fmtNum(x float64, unit string) string {
	switch {
	case math.IsNaN(x):
		return "n/a"
	case math.Abs(x) >= 1e6:
		return fmt.Sprintf("%.2fM%s", x/1e6, unit)
	case math.Abs(x) >= 1e4:
		return fmt.Sprintf("%.0fk%s", x/1e3, unit)
	case math.Abs(x) >= 1e3:
		return fmt.Sprintf("%.1fk%s", x/1e3, unit)
	default:
		return fmt.Sprintf("%.0f%s", x, unit)
	}
}

func fmtF(x float64, prec int, suffix string) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	return fmt.Sprintf("%.*f%s", prec, x, suffix)
}

// print writes the tables as Markdown.
func (rs *results) print(w io.Writer, shapes []shape) {
	bare := values(rs.bare)
	for _, s := range shapes {
		fmt.Fprintf(w, "\n#### Traffic: %s (%s)\n\n", s.name, s.about)
		fmt.Fprintln(w, "| pipeline | spans/s (min–max) | calls/s | vs floor | CPU µs/span | CPU µs/call | extra CPU µs/call vs floor | alloc KiB/call | peak RSS MiB | refused req/window |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range rs.table(s) {
			fmt.Fprintf(w, "| %s | %s (%s–%s) | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				r.label, fmtNum(r.spansPerSec, ""), fmtNum(r.lo, ""), fmtNum(r.hi, ""), fmtNum(r.callsPerSec, ""),
				fmtF(r.vsFloor, 2, "×"), fmtF(r.cpuPerSpan, 2, ""), fmtF(r.cpuPerCall, 2, ""), fmtF(r.extraCPUPerCall, 2, ""),
				fmtF(r.allocPerCall/1024, 1, ""), fmtF(r.hwmMiB, 0, ""), fmtF(r.refused, 0, ""))
		}
		for _, p := range []pipeline{pFull, pNoBal} {
			if len(bare) > 0 && len(rs.byRound(p, s.name, run.callsPerSec)) > 0 {
				fmt.Fprintf(w, "\n%s: stored calls/s ÷ bare SQLite insert rows/s (same rounds): **%s**\n", pipelineLabel[p], fmtF(rs.vsBare(p, s), 2, "×"))
			}
		}
	}
	if len(bare) > 0 {
		lo, hi := minMax(bare)
		fmt.Fprintf(w, "\nBare SQLite insert of today's usage_records row, PK only (one connection, WAL, synchronous=NORMAL, %d rows/statement, %d rows/transaction): %s rows/s (median; %s–%s over %d rounds)\n",
			bareRowsPerStatement, bareRowsPerTx, fmtNum(median(bare), ""), fmtNum(lo, ""), fmtNum(hi, ""), len(bare))
	}
}

// rawLine is one run as a line of the raw log, for whoever wants to check a
// median.
func (r run) rawLine() string {
	return strings.Join([]string{
		fmt.Sprintf("round=%d", r.round), "shape=" + r.shape.name, "pipeline=" + string(r.pipeline),
		fmt.Sprintf("seconds=%.2f", r.seconds), fmt.Sprintf("spans=%d", r.spans), fmt.Sprintf("calls=%d", r.calls),
		fmt.Sprintf("stored=%d", r.stored), fmt.Sprintf("spans/s=%.0f", r.spansPerSec()), fmt.Sprintf("calls/s=%.0f", r.callsPerSec()),
		fmt.Sprintf("cpu_us/call=%.2f", r.cpuPerCall()), fmt.Sprintf("alloc_B/call=%.0f", r.allocPerCall()),
		fmt.Sprintf("hwm_MiB=%.0f", float64(r.hwmKiB)/1024), fmt.Sprintf("refused=%d", r.refused),
	}, " ")
}
