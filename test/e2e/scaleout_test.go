package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// frontTier is the scale-out front tier: otlp receiver + the contrib
// loadbalancing exporter, its own ocb build at core/contrib v0.161.0 (the
// loadbalancing exporter is not served at genaimeter's v0.165.1).
var frontTier = ocbBuild{
	ocb:      "v0.161.0",
	manifest: "test/scaleout/builder-config.yaml",
	name:     "otelcol-genaimeter-front",
}

// backEndConfig is one genaimeter collector of the scale-out topology: OTLP
// gRPC from the front tier, calls held for their ancestors for up to two
// minutes (far longer than the test: only a parent lets them go), the held
// calls and the ledger's sending queue on disk (file_storage, as in
// config/local.yaml), records into the shared PostgreSQL ledger.
const backEndConfig = `
extensions:
  file_storage:
    directory: {{DIR}}/queue
    create_directory: true
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {{BACKEND_GRPC}}
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      tenant: [tenant.id]
      ancestors:
        wait: 2m
        storage: file_storage
connectors:
  genai_usage:
exporters:
  genai_ledger:
    postgres:
      endpoint: {{PG}}
      tls:
        insecure: true
    sending_queue:
      storage: file_storage
    retry_on_failure:
      initial_interval: 100ms
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {{METRICS}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`

// frontConfig routes every trace, by trace id, to one of {{BACKENDS}} over
// OTLP gRPC. While a back end is down its sub-exporter fails at once (no
// queue, no retry of its own) and the loadbalancing exporter's own queue
// retries the request until the back end answers again (max_elapsed_time 0:
// never drop). With {{CONSUMERS}} = 1 requests leave the queue in the order
// they came, so that a trace's parent never overtakes its children in a
// retry; the part of a retried request that a healthy back end had already
// taken is sent to it again, and the ledger stores it once (event id).
// The queue is in memory: the front tier's own crash is not this test's
// subject (give it file_storage for that).
const frontConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
exporters:
  load_balancing:
    routing_key: traceID
    sending_queue:
      enabled: true
      num_consumers: {{CONSUMERS}}
      queue_size: 100000
    retry_on_failure:
      enabled: true
      initial_interval: 50ms
      max_interval: 500ms
      max_elapsed_time: 0s
    protocol:
      otlp:
        timeout: 10s
        tls:
          insecure: true
        sending_queue:
          enabled: false
        retry_on_failure:
          enabled: false
    resolver:
      static:
        hostnames: [{{BACKENDS}}]
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [load_balancing]
`

// backEnd is one genaimeter collector behind the front tier.
type backEnd struct {
	*collector
	grpc    string
	metrics string
}

func startBackEnd(t testing.TB, pgURL string) *backEnd {
	t.Helper()
	grpc := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	metrics := freePort(t)
	cfg := strings.NewReplacer("{{PG}}", pgURL, "{{BACKEND_GRPC}}", grpc, "{{METRICS}}", strconv.Itoa(metrics)).Replace(backEndConfig)
	return &backEnd{startCollector(t, cfg), grpc, fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)}
}

func startFront(t testing.TB, bin string, consumers int, backs ...*backEnd) *collector {
	t.Helper()
	hosts := make([]string, len(backs))
	for i, b := range backs {
		hosts[i] = b.grpc
	}
	cfg := strings.NewReplacer("{{BACKENDS}}", strings.Join(hosts, ", "), "{{CONSUMERS}}", strconv.Itoa(consumers)).Replace(frontConfig)
	return startCollectorBinary(t, bin, cfg)
}

const (
	scaleTraces       = 1000 // 2 LLM calls each: 2,000 calls
	scaleTracesPerReq = 50
	scaleBatches      = scaleTraces / scaleTracesPerReq
)

func scaleTrace(k int) pcommon.TraceID {
	return pcommon.TraceID{0x5c, 0xa1, byte(k >> 8), byte(k), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, byte(k * 7)}
}

func scaleTenant(k int) string { return fmt.Sprintf("tenant-%d", k%7) }

// scaleChildren is the request with the LLM calls of batch i's traces; their
// parent (the root, with the tenant) is not in it.
func scaleChildren(i int) []byte {
	var spans []otlpSpan
	for k := i * scaleTracesPerReq; k < (i+1)*scaleTracesPerReq; k++ {
		spans = append(spans,
			chatCall("scale-out", scaleTrace(k), spanCall1, spanRoot, "gpt-4o", 4100, 730),
			chatCall("scale-out", scaleTrace(k), spanCall2, spanRoot, "gpt-4o-mini", 260, 45))
	}
	return otlpRequest(spans...)
}

// scaleParents is the request with the roots of batch i's traces.
func scaleParents(i int) []byte {
	var spans []otlpSpan
	for k := i * scaleTracesPerReq; k < (i+1)*scaleTracesPerReq; k++ {
		spans = append(spans, otlpSpan{"scale-out", scaleTrace(k), spanRoot, pcommon.SpanID{}, "POST /chat",
			map[string]any{"tenant.id": scaleTenant(k)}, 3 * time.Second})
	}
	return otlpRequest(spans...)
}

// TestScaleOutLoadBalancedKill runs the scale-out topology of the README on
// loopback: the front tier (test/scaleout/builder-config.yaml, ocb v0.161.0)
// routes by trace id to two otelcol-genaimeter back ends that share one
// PostgreSQL ledger. Every trace's two LLM calls are sent in one request and
// its root, which carries the tenant, in a later one, so that the back end
// that gets the trace holds the calls until the root comes. In the middle of
// the stream one back end is killed (SIGKILL) — with calls held whose roots
// have not been sent, and the front tier retrying what it routes there — and
// restarted on the same directory. Every call must be in the ledger exactly
// once, under its trace's tenant, with its exact cost.
func TestScaleOutLoadBalancedKill(t *testing.T) {
	start := time.Now()
	frontBin := frontTier.binary(t)
	built := time.Since(start)
	pgURL := pgstoretest.NewDatabase(t)
	a, b := startBackEnd(t, pgURL), startBackEnd(t, pgURL)
	front := startFront(t, frontBin, 1, a, b)
	run := time.Now()

	// Children of batch i, then the parents of batch i-1: a trace's root
	// always comes one request after its calls.
	var order [][]byte
	for i := 0; i <= scaleBatches; i++ {
		if i < scaleBatches {
			order = append(order, scaleChildren(i))
		}
		if i > 0 {
			order = append(order, scaleParents(i-1))
		}
	}
	// The stream goes to the front tier at a steady pace (as from an app),
	// and on while back end A is down: what the front tier routes to A waits
	// in its queue, retried, and each request is acknowledged by the front
	// tier as soon as it is queued.
	client := &http.Client{Timeout: 10 * time.Second}
	var sent atomic.Int64
	refused := make(chan int, len(order))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i, body := range order {
			resp, err := client.Post(front.http+"/v1/traces", "application/json", bytes.NewReader(body))
			if err == nil {
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				refused <- i
			}
			sent.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
	}()
	total := 2 * scaleTraces
	// Kill back end A (SIGKILL) in the middle of the stream, once it holds
	// calls: from the second request on, each back end holds the calls of
	// the last children's request it got, their roots coming one request
	// later.
	var heldA float64
	require.Eventually(t, func() bool {
		if sent.Load() < int64(len(order)/2) {
			return false
		}
		heldA = scrapeCounter(t, a.metrics, `otelcol_processor_genai_cost_pending_calls`)
		return heldA > 0
	}, 60*time.Second, 5*time.Millisecond, "A held no calls; front:\n%s\nA:\n%s", front.out, a.out)
	a.kill(t)
	sentAtKill, atKill := sent.Load(), countPG(pgURL)
	time.Sleep(500 * time.Millisecond)
	a.restart(t)
	restoredA := scrapeCounter(t, a.metrics, `otelcol_processor_genai_cost_calls_restored`)
	t.Logf("killed back end A after %d of %d requests, with %d of %d calls in the ledger and about %.0f calls held on A; %.0f restored after the restart",
		sentAtKill, len(order), atKill, total, heldA, restoredA)
	require.Less(t, sentAtKill, int64(len(order)), "the kill came in the middle of the stream")
	assert.Positive(t, restoredA, "A held calls at the kill, kept on disk and held again after the restart")

	<-done
	close(refused)
	for i := range refused {
		t.Errorf("the front tier refused request %d", i)
	}
	require.Eventually(t, func() bool { return countPG(pgURL) >= total }, 90*time.Second, 50*time.Millisecond,
		"ledger did not reach %d calls (has %d); front:\n%s\nA:\n%s\nB:\n%s", total, countPG(pgURL), front.out, a.out, b.out)
	elapsed := time.Since(run)
	// B took its share of the traces too (counters of B's only run).
	assert.Positive(t, scrapeCounter(t, b.metrics, `otelcol_processor_genai_cost_calls_released{release_reason="ancestors_arrived"}`))
	assert.Zero(t, scrapeCounter(t, b.metrics, `otelcol_processor_genai_cost_calls_unattributed`))
	assert.Zero(t, scrapeCounter(t, a.metrics, `otelcol_processor_genai_cost_calls_unattributed`))
	front.stop(t)
	a.stop(t)
	b.stop(t)

	want := make(map[string]string, total)
	for k := range scaleTraces {
		want[usage.EventID(scaleTrace(k), spanCall1)] = scaleTenant(k) + " gpt-4o 0.01755"
		want[usage.EventID(scaleTrace(k), spanCall2)] = scaleTenant(k) + " gpt-4o-mini 0.000066"
	}
	conn, err := pgx.Connect(context.Background(), pgURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(),
		`SELECT event_id, tenant_id, request_model, cost_usd::text FROM usage_records`)
	require.NoError(t, err)
	got := make(map[string]string, total)
	n := 0
	for rows.Next() {
		var id, tenant, model, cost string
		require.NoError(t, rows.Scan(&id, &tenant, &model, &cost))
		got[id] = tenant + " " + model + " " + cost
		n++
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, total, n, "one row per call")
	if !assert.Equal(t, want, got, "every call once, under its trace's tenant, with its cost") {
		var missing []string
		for id := range want {
			if _, ok := got[id]; !ok {
				missing = append(missing, id)
			}
		}
		sort.Strings(missing)
		t.Logf("%d calls missing", len(missing))
	}
	t.Logf("scale-out: front tier %s (build or cache), %d calls through the topology with a kill -9 in %s",
		built.Round(time.Millisecond), total, elapsed.Round(time.Millisecond))
}

// scaleBenchRequests per iteration: 10,000 calls, each in its own trace with
// its tenant (nothing held): the figure is the topology's throughput.
const scaleBenchRequests = 100

// BenchmarkScaleOut measures records/s into the shared PostgreSQL ledger
// through the front tier with one back end and with two: OTLP/HTTP protobuf
// requests of 100 calls from 4 concurrent clients to the front tier, which
// routes by trace id (default queue consumers) over OTLP gRPC.
func BenchmarkScaleOut(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			frontBin := frontTier.binary(b)
			pgURL := pgstoretest.NewDatabase(b)
			backs := make([]*backEnd, n)
			for i := range backs {
				backs[i] = startBackEnd(b, pgURL)
			}
			front := startFront(b, frontBin, 10, backs...)
			client := &http.Client{Timeout: 30 * time.Second}
			var sent atomic.Int64
			for it := 0; b.Loop(); it++ {
				b.StopTimer()
				bodies := make([][]byte, scaleBenchRequests)
				for i := range bodies {
					bodies[i], _, _ = crashRequest(it*scaleBenchRequests + i)
				}
				b.StartTimer()
				var wg sync.WaitGroup
				var next atomic.Int64
				for range 4 {
					wg.Go(func() {
						for {
							i := int(next.Add(1)) - 1
							if i >= scaleBenchRequests {
								return
							}
							if !post(client, front.http, bodies[i]) {
								b.Errorf("request %d refused", i)
								return
							}
							sent.Add(crashSpansPerReq)
						}
					})
				}
				wg.Wait()
				deadline := time.Now().Add(5 * time.Minute)
				for countPG(pgURL) < int(sent.Load()) {
					if time.Now().After(deadline) {
						b.Fatalf("ledger did not reach %d records", sent.Load())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			b.ReportMetric(float64(sent.Load())/b.Elapsed().Seconds(), "records/s")
		})
	}
}
