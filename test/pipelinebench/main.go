// Command pipelinebench measures otelcol-genaimeter against a stock
// collector of the same release, on this machine, in one invocation (make
// bench-pipeline; make bench-soak for the long run). See the README section
// "Speed side by side".
//
// Per round, alternating, on each traffic shape: the stock collector
// otlp → nop (the floor), genai_cost alone, and the full pipeline into SQLite;
// then the bare SQLite insert of the same row. Each collector is a fresh
// process fed by this program's load generator (OTLP/gRPC, pre-marshalled
// requests of 500 spans, 4 concurrent streams) for a warm-up and then a
// measured window. It prints medians over the rounds.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"
)

type options struct {
	stock, collector, soakCollector string
	rounds                          int
	duration, warmup                time.Duration
	shapes                          []shape
	pipelines                       []pipeline
	tenants, streams, batch         int
	bareRows                        int
	workDir                         string
	profileDir                      string // -profile: CPU profiles of the measured windows

	soak                       bool
	soakCalls, soakTenants     int
	soakDuration, soakInterval time.Duration
}

func main() {
	var o options
	var shapes string
	flag.StringVar(&o.stock, "stock", "bin/otelcol-stock", "the stock collector (ocb, otlp receiver + nop exporter)")
	flag.StringVar(&o.collector, "collector", "bin/otelcol-genaimeter", "the otelcol-genaimeter collector (make build)")
	flag.StringVar(&o.soakCollector, "soak-collector", "bin/otelcol-genaimeter-soak", "otelcol-genaimeter plus the pprof extension (soak)")
	flag.IntVar(&o.rounds, "rounds", 5, "alternating rounds (medians are over these)")
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "measured window of each run")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "load before the measured window")
	flag.StringVar(&shapes, "shapes", "llm,mixed", "traffic shapes: llm, mixed")
	var pipelines string
	flag.StringVar(&pipelines, "pipelines", "floor,cost,full", "pipelines: floor (stock otlp → nop), cost (genai_cost alone), full (into SQLite, with balances), nobal (full without balances)")
	flag.IntVar(&o.tenants, "tenants", 1000, "distinct tenant.id values")
	flag.IntVar(&o.streams, "streams", 4, "concurrent OTLP/gRPC streams")
	flag.IntVar(&o.batch, "batch", 500, "spans per export request")
	flag.IntVar(&o.bareRows, "bare-rows", 100000, "rows of the bare SQLite insert per round")
	flag.StringVar(&o.workDir, "work", "", "directory for the collectors' files (default: a new temp dir)")
	flag.BoolVar(&o.soak, "soak", false, "run the soak instead: full pipeline, rate-limited, RSS and goroutines over time")
	flag.IntVar(&o.soakCalls, "soak-calls", 1000000, "calls the soak sends")
	flag.IntVar(&o.soakTenants, "soak-tenants", 10000, "tenants of the soak")
	flag.DurationVar(&o.soakDuration, "soak-duration", 10*time.Minute, "how long the soak spreads its calls over")
	flag.DurationVar(&o.soakInterval, "soak-interval", 15*time.Second, "sampling interval of the soak")
	flag.StringVar(&o.profileDir, "profile", "", "write a CPU profile of each measured window of genai_cost and the full pipeline into this directory (runs them on -soak-collector, which has pprof)")
	flag.Parse()
	for _, name := range strings.Split(shapes, ",") {
		s, err := shapeByName(strings.TrimSpace(name))
		if err != nil {
			fail(err)
		}
		o.shapes = append(o.shapes, s)
	}
	// The collectors run in their own directories: make the paths absolute.
	for _, p := range []*string{&o.stock, &o.collector, &o.soakCollector} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fail(err)
		}
		*p = abs
	}
	for _, name := range strings.Split(pipelines, ",") {
		p := pipeline(strings.TrimSpace(name))
		if _, ok := pipelineLabel[p]; !ok {
			fail(fmt.Errorf("unknown pipeline %q (want floor, cost, full or nobal)", name))
		}
		o.pipelines = append(o.pipelines, p)
	}
	if o.workDir == "" {
		d, err := os.MkdirTemp("", "pipelinebench-")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(d)
		o.workDir = d
	}
	var err error
	if o.soak {
		err = soak(o)
	} else {
		err = bench(o)
	}
	if err != nil {
		os.RemoveAll(o.workDir)
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "pipelinebench:", err)
	os.Exit(1)
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = ", load average " + strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s%s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), load)
}

func bench(o options) error {
	ctx := context.Background()
	bins := []string{o.stock, o.collector}
	if o.profileDir != "" {
		bins = append(bins, o.soakCollector)
		if err := os.MkdirAll(o.profileDir, 0o755); err != nil {
			return err
		}
	}
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			return fmt.Errorf("%w (make bench-pipeline builds it)", err)
		}
	}
	cols, err := usageColumns(ctx, o.workDir)
	if err != nil {
		return err
	}
	end := time.Now().UTC().Truncate(time.Second)
	templates := map[string][]*template{}
	for _, s := range o.shapes {
		if templates[s.name], err = buildTemplates(s, o.batch, o.tenants, end); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(o.workDir, "plans.yaml"), []byte(benchPlans), 0o600); err != nil {
		return err
	}
	fmt.Printf("pipelinebench: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Printf("machine: %s\n", machine())
	if os.Getenv("PIPELINEBENCH_KEEP") != "" {
		fmt.Println("work dir:", o.workDir)
	}
	fmt.Printf("%d rounds × %v measured after %v warm-up; %d streams, %d spans/request, %d tenants; bare insert %d rows\n\n",
		o.rounds, o.duration, o.warmup, o.streams, o.batch, o.tenants, o.bareRows)
	res := &results{bare: map[int]float64{}}
	for round := 1; round <= o.rounds; round++ {
		for _, s := range o.shapes {
			for _, p := range o.pipelines {
				r, err := measure(o, p, s, templates[s.name], round)
				if err != nil {
					return fmt.Errorf("round %d, %s, %s: %w", round, s.name, p, err)
				}
				fmt.Println(r.rawLine())
				res.runs = append(res.runs, r)
			}
		}
		rate, err := bareInsert(ctx, o.workDir, cols, o.bareRows, o.tenants)
		if err != nil {
			return fmt.Errorf("round %d, bare insert: %w", round, err)
		}
		fmt.Printf("round=%d bare_insert_rows/s=%.0f\n", round, rate)
		res.bare[round] = rate
	}
	fmt.Printf("\n### Results (medians of %d rounds; %s)\n", o.rounds, time.Now().UTC().Format("2006-01-02"))
	res.print(os.Stdout, o.shapes)
	return nil
}

type snapshot struct {
	at           time.Time
	spans, calls int64
	refused      int64
	stored       int64
	cpu          int64
	alloc        float64
	allocOK      bool
}

func take(c *collectorProc, g *loadgen, db *sql.DB) (snapshot, error) {
	s := snapshot{at: time.Now(), spans: g.spans.Load(), calls: g.calls.Load(), refused: g.refused.Load()}
	var err error
	if s.cpu, err = c.cpuTicks(); err != nil {
		return s, err
	}
	if db != nil {
		if s.stored, err = storedCount(db); err != nil {
			return s, err
		}
	}
	if m, err := c.metrics(); err == nil {
		s.alloc, s.allocOK = allocBytes(m)
	}
	return s, nil
}

// storedCount is how many records the ledger holds: max(rowid), an index
// seek (rows are only ever appended), rather than count(*), a scan of the
// growing table that would take CPU from the collector.
func storedCount(db *sql.DB) (int64, error) {
	var n sql.NullInt64
	err := db.QueryRow(`SELECT max(rowid) FROM usage_records`).Scan(&n)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, nil
	}
	if err != nil {
		// A table without rowid: count.
		err = db.QueryRow(`SELECT count(*) FROM usage_records`).Scan(&n)
	}
	return n.Int64, err
}

func configFor(p pipeline, extraExt bool) string {
	switch p {
	case pFloor:
		return floorConfig
	case pCost:
		if extraExt {
			return strings.NewReplacer("{{EXTENSIONS}}", "\nextensions:"+soakExtensions,
				"{{SERVICE_EXTENSIONS}}", "\n  extensions: [pprof]").Replace(costConfig)
		}
		return strings.NewReplacer("{{EXTENSIONS}}", "", "{{SERVICE_EXTENSIONS}}", "").Replace(costConfig)
	}
	cfg := fullConfig
	if p == pNoBal {
		cfg = strings.Replace(cfg, "    balances: genai_usage_service\n", "", 1)
	}
	r := strings.NewReplacer("{{EXTRA_EXTENSIONS}}", "", "{{EXTRA_EXTENSION_DEFS}}", "")
	if extraExt {
		r = strings.NewReplacer("{{EXTRA_EXTENSIONS}}", ", pprof", "{{EXTRA_EXTENSION_DEFS}}", soakExtensions)
	}
	return r.Replace(cfg)
}

// maxAhead is how many calls the load generator may have sent beyond those
// stored, in the full pipeline: two of the ledger's batches (8,192 records),
// so that the exporter always has a full batch to write.
const maxAhead = 2 * 8192

// measure runs one pipeline on one shape: start, warm up, measure, stop.
func measure(o options, p pipeline, s shape, templates []*template, round int) (run, error) {
	bin := o.collector
	profiled := o.profileDir != "" && p != pFloor
	switch {
	case p == pFloor:
		bin = o.stock
	case profiled:
		bin = o.soakCollector
	}
	cfg := strings.ReplaceAll(configFor(p, profiled), "{{DIR}}/plans.yaml", filepath.Join(o.workDir, "plans.yaml"))
	c, err := startCollector(bin, o.workDir, cfg)
	if err != nil {
		return run{}, err
	}
	defer c.stop()
	g := &loadgen{templates: templates, streams: o.streams}
	var db *sql.DB
	var stored *atomic.Int64
	if p.stores() {
		if db, err = sql.Open("sqlite", "file:"+c.dbPath+"?mode=ro&_pragma=busy_timeout(5000)"); err != nil {
			return run{}, err
		}
		defer db.Close()
		// The full pipeline acknowledges calls into its sending queue (in
		// memory, a thousand batches) far faster than the store takes them;
		// the queue would take minutes to fill and push back. The load
		// generator stays at most maxAhead calls ahead of the store instead,
		// so that the window measures the steady state: the store's rate,
		// with no CPU spent on calls that only wait in the queue.
		stored = new(atomic.Int64)
		pollCtx, stopPoll := context.WithCancel(context.Background())
		defer stopPoll()
		go func() {
			for pollCtx.Err() == nil {
				if n, err := storedCount(db); err == nil {
					stored.Store(n)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		g.mayAdvance = func() bool { return g.calls.Load()-stored.Load() < maxAhead }
	}
	if err := g.start(c.grpc); err != nil {
		return run{}, err
	}
	defer g.stop()
	time.Sleep(o.warmup)
	if stored != nil {
		// The window starts at the steady state: once the generator has
		// caught up with the cap (calls accepted = calls stored from then
		// on, give or take a request per stream), so that the collector's
		// CPU in the window goes to the calls the window stores.
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if g.calls.Load()-stored.Load() >= maxAhead-int64(o.streams*templates[0].calls) {
				break
			}
		}
	}
	s0, err := take(c, g, db)
	if err != nil {
		return run{}, err
	}
	if profiled {
		// The CPU profile covers the measured window (the pprof handler
		// answers when its seconds are over).
		name := filepath.Join(o.profileDir, fmt.Sprintf("round%d-%s-%s.pprof", round, s.name, p))
		if err := c.cpuProfile(o.duration, name); err != nil {
			return run{}, err
		}
	} else {
		time.Sleep(o.duration)
	}
	s1, err := take(c, g, db)
	if err != nil {
		return run{}, err
	}
	hwm, err := c.statusKiB("VmHWM")
	if err != nil {
		return run{}, err
	}
	r := run{
		pipeline: p, shape: s, round: round,
		seconds: s1.at.Sub(s0.at).Seconds(),
		spans:   s1.spans - s0.spans, calls: s1.calls - s0.calls,
		stored: s1.stored - s0.stored, cpuTicks: s1.cpu - s0.cpu,
		allocBytes: -1, hwmKiB: hwm, refused: s1.refused - s0.refused,
	}
	if s0.allocOK && s1.allocOK {
		r.allocBytes = s1.alloc - s0.alloc
	}
	if r.callsDone() == 0 {
		// A real figure (nothing got through in the window: a stalled
		// store, an overloaded machine), kept as a zero rate; the output
		// says why.
		fmt.Printf("warning: round %d, %s, %s: nothing went through in the window; refused %d requests (last: %q); collector output: %q\n",
			round, s.name, p, r.refused, g.lastError(), c.out.String())
	}
	return r, nil
}
