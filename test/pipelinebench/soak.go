package main

import (
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// soakSample is one point of the soak's curve.
type soakSample struct {
	elapsed    time.Duration
	sent       int64 // calls accepted by the collector
	stored     int64
	rssKiB     int64
	heapBytes  float64 // Go heap in use, from the collector's telemetry
	goroutines int
}

// soak runs the full pipeline at a steady rate (soakCalls over soakDuration,
// LLM-only traffic over soakTenants tenants) and samples the collector's RSS,
// Go heap and goroutine count, then waits for the store to hold every call.
func soak(o options) error {
	if _, err := os.Stat(o.soakCollector); err != nil {
		return fmt.Errorf("%w (make bench-soak builds it)", err)
	}
	end := time.Now().UTC().Truncate(time.Second)
	templates, err := buildTemplates(shapeLLM, o.batch, o.soakTenants, end)
	if err != nil {
		return err
	}
	perRequest := templates[0].calls
	requests := int64((o.soakCalls + perRequest - 1) / perRequest)
	if err := os.WriteFile(filepath.Join(o.workDir, "plans.yaml"), []byte(benchPlans), 0o600); err != nil {
		return err
	}
	cfg := strings.ReplaceAll(configFor(pFull, true), "{{DIR}}/plans.yaml", filepath.Join(o.workDir, "plans.yaml"))
	c, err := startCollector(o.soakCollector, o.workDir, cfg)
	if err != nil {
		return err
	}
	defer c.stop()
	db, err := sql.Open("sqlite", "file:"+c.dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()

	fmt.Printf("pipelinebench soak: %s\nmachine: %s\n", time.Now().UTC().Format(time.RFC3339), machine())
	fmt.Printf("%d calls (%d requests of %d calls), %d tenants, over %v; sample every %v\n\n",
		requests*int64(perRequest), requests, perRequest, o.soakTenants, o.soakDuration, o.soakInterval)
	g := &loadgen{templates: templates, streams: o.streams, maxRequests: requests,
		perSecond: float64(requests) / o.soakDuration.Seconds()}
	start := time.Now()
	if err := g.start(c.grpc); err != nil {
		return err
	}
	defer g.stop()
	var curve []soakSample
	sample := func() error {
		s := soakSample{elapsed: time.Since(start).Round(time.Second), sent: g.calls.Load()}
		var err error
		if s.rssKiB, err = c.statusKiB("VmRSS"); err != nil {
			return err
		}
		if s.goroutines, err = c.goroutines(); err != nil {
			return err
		}
		if s.stored, err = storedCount(db); err != nil {
			return err
		}
		if m, err := c.metrics(); err == nil {
			s.heapBytes, _ = metric(m, "otelcol_process_runtime_heap_alloc_bytes")
		}
		curve = append(curve, s)
		fmt.Println(s.line())
		return nil
	}
	fmt.Println("| elapsed | calls sent | calls stored | backlog | RSS MiB | Go heap MiB | goroutines |")
	fmt.Println("|---|---|---|---|---|---|---|")
	tick := time.NewTicker(o.soakInterval)
	defer tick.Stop()
	want := requests * int64(perRequest)
	deadline := start.Add(o.soakDuration + 5*time.Minute)
	for {
		<-tick.C
		if err := sample(); err != nil {
			return err
		}
		last := curve[len(curve)-1]
		if last.stored >= want {
			break
		}
		if time.Now().After(deadline) {
			fmt.Printf("\nthe store holds %d of %d calls 5 minutes after the soak's planned end: it did not keep up (last refusal: %q)\n", last.stored, want, g.lastError())
			break
		}
	}
	// Idle after the load: what the collector keeps once the work is done.
	time.Sleep(o.soakInterval)
	if err := sample(); err != nil {
		return err
	}
	hwm, _ := c.statusKiB("VmHWM")
	fmt.Printf("\npeak RSS (VmHWM) %.0f MiB; refused requests %d\n", float64(hwm)/1024, g.refused.Load())
	verdict(os.Stdout, curve)
	return nil
}

func (s soakSample) line() string {
	return fmt.Sprintf("| %v | %d | %d | %d | %.0f | %.0f | %d |", s.elapsed, s.sent, s.stored, s.sent-s.stored,
		float64(s.rssKiB)/1024, s.heapBytes/(1<<20), s.goroutines)
}

// flatness compares the second half of the curve with the first, after the
// first quarter (start-up, caches and the SQLite page cache filling): flat
// when the second half's peak is at most `tolerance` above the first half's.
type flatness struct {
	firstPeak, secondPeak float64
	flat                  bool
}

func flatCheck(xs []float64, tolerance float64) flatness {
	if len(xs) < 4 {
		return flatness{}
	}
	skip := len(xs) / 4
	rest := xs[skip:]
	half := len(rest) / 2
	var f flatness
	for _, x := range rest[:half] {
		f.firstPeak = max(f.firstPeak, x)
	}
	for _, x := range rest[half:] {
		f.secondPeak = max(f.secondPeak, x)
	}
	f.flat = f.secondPeak <= f.firstPeak*(1+tolerance)
	return f
}

// soakTolerance is the growth from the first to the second half of the curve
// that still counts as flat.
const soakTolerance = 0.10

func verdict(w io.Writer, curve []soakSample) {
	if len(curve) < 4 {
		fmt.Fprintln(w, "too few samples for a verdict (make the soak longer or the interval shorter)")
		return
	}
	rss := make([]float64, len(curve))
	gor := make([]float64, len(curve))
	for i, s := range curve {
		rss[i] = float64(s.rssKiB) / 1024
		gor[i] = float64(s.goroutines)
	}
	say := func(name string, f flatness, unit string) {
		v := "FLAT"
		if !f.flat {
			v = "GREW"
		}
		fmt.Fprintf(w, "%s: %s (peak %.0f%s in the first half, %.0f%s in the second, after the first quarter; flat = within %.0f%%)\n",
			name, v, f.firstPeak, unit, f.secondPeak, unit, soakTolerance*100)
	}
	say("RSS", flatCheck(rss, soakTolerance), " MiB")
	say("goroutines", flatCheck(gor, soakTolerance), "")
	if b := maxBacklog(curve); b > soakBacklogLimit {
		fmt.Fprintf(w, "NOT A LEAK TEST: the store fell behind the offered rate (backlog up to %d calls, more than %d): the RSS above is mostly the sending queue's backlog, and a plateau is the queue being full, not a flat collector. Lower the rate (SOAK_CALLS or a longer SOAK_DURATION) until the backlog stays small.\n", b, soakBacklogLimit)
	}
}

// soakBacklogLimit is the backlog (calls accepted, not yet stored) up to
// which the store counts as keeping up: the ledger's batch (8,192) and a
// sample interval's worth of jitter.
const soakBacklogLimit = 4 * 8192

func maxBacklog(curve []soakSample) int64 {
	var m int64
	for _, s := range curve {
		m = max(m, s.sent-s.stored)
	}
	return m
}
