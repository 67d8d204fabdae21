package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// crashConfig writes every call to SQLite and to PostgreSQL, each exporter
// with a persistent sending queue (file_storage). Batches flush at 8,192
// records or after 5s, so that when the collector is killed most acknowledged
// calls are still only in the queue (the test checks that some are). The
// processor does not hold calls for ancestors (wait: 0s): every call carries
// its tenant. Held calls surviving a crash (attribution.ancestors.storage)
// are TestCrashKeepsHeldCalls's subject.
const crashConfig = `
extensions:
  file_storage:
    directory: {{DIR}}/queue
    create_directory: true
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      tenant: [tenant.id]
      ancestors:
        wait: 0s
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
    sending_queue:
      storage: file_storage
      batch:
        flush_timeout: 5s
    retry_on_failure:
      initial_interval: 100ms
  genai_ledger/pg:
    postgres:
      endpoint: {{PG}}
      tls:
        insecure: true
    sending_queue:
      storage: file_storage
      batch:
        flush_timeout: 5s
    retry_on_failure:
      initial_interval: 100ms
service:
  extensions: [file_storage]
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger, genai_ledger/pg]
`

const (
	crashRequests    = 200
	crashSpansPerReq = 100 // 20,000 calls
	crashKillAfter   = 100 // acknowledged requests before SIGKILL
)

// crashRequest is request i of the stream: crashSpansPerReq LLM calls, each in
// its own trace, with token counts derived from its number so that sums are
// checkable.
func crashRequest(i int) ([]byte, []string, int64) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "crash-test")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("@opentelemetry/instrumentation-openai")
	ss.Scope().SetVersion("0.22.0")
	ids := make([]string, 0, crashSpansPerReq)
	var inputTokens int64
	end := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	for j := range crashSpansPerReq {
		n := i*crashSpansPerReq + j
		var tid pcommon.TraceID
		var sid pcommon.SpanID
		binary.BigEndian.PutUint64(tid[8:], uint64(n)+1)
		binary.BigEndian.PutUint64(sid[:], uint64(n)+1)
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(tid)
		sp.SetSpanID(sid)
		sp.SetName("chat gpt-4o-mini")
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(end.Add(time.Duration(n)*time.Millisecond - 500*time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end.Add(time.Duration(n) * time.Millisecond)))
		a := sp.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.system", "openai")
		a.PutStr("gen_ai.request.model", "gpt-4o-mini")
		a.PutStr("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
		a.PutInt("gen_ai.usage.input_tokens", int64(100+n%1000))
		a.PutInt("gen_ai.usage.output_tokens", 50)
		a.PutStr("tenant.id", fmt.Sprintf("tenant-%d", n%7))
		inputTokens += int64(100 + n%1000)
		ids = append(ids, usage.EventID(tid, sid))
	}
	body, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if err != nil {
		panic(err)
	}
	return body, ids, inputTokens
}

// post sends one OTLP/HTTP protobuf request; true when the collector
// acknowledged it (200).
func post(client *http.Client, url string, body []byte) bool {
	resp, err := client.Post(url+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestCrashLosesNothing streams 20,000 calls as 200 OTLP requests, kills the
// collector (SIGKILL) once 100 requests are acknowledged while the stream goes
// on, restarts it on the same directory, and resends only the requests that
// were not acknowledged (as an SDK retries). Every call must then be stored
// exactly once in SQLite and in PostgreSQL: acknowledged calls not yet
// written when the process died come back from the persistent queue, and
// calls sent twice (in flight at the kill) are stored once.
func TestCrashLosesNothing(t *testing.T) {
	pgURL := pgstoretest.NewDatabase(t)
	c := startCollector(t, strings.ReplaceAll(crashConfig, "{{PG}}", pgURL))

	bodies := make([][]byte, crashRequests)
	var wantIDs []string
	var wantInput int64
	for i := range bodies {
		var ids []string
		var in int64
		bodies[i], ids, in = crashRequest(i)
		wantIDs = append(wantIDs, ids...)
		wantInput += in
	}
	sort.Strings(wantIDs)

	client := &http.Client{Timeout: 10 * time.Second}
	acked := make([]bool, crashRequests)
	ackedCount := make(chan int, crashRequests)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		for i, b := range bodies {
			if acked[i] = post(client, c.http, b); acked[i] {
				n++
				ackedCount <- n
			}
		}
	}()
	for n := range ackedCount {
		if n == crashKillAfter {
			break
		}
	}
	c.kill(t)
	<-done
	close(ackedCount)
	nAcked := 0
	for _, a := range acked {
		if a {
			nAcked++
		}
	}
	sqliteAtKill, pgAtKill := countSQLite(c.dbPath), countPG(pgURL)
	t.Logf("killed with %d of %d requests acknowledged (%d calls); stored at the kill: SQLite %d, PostgreSQL %d",
		nAcked, crashRequests, nAcked*crashSpansPerReq, sqliteAtKill, pgAtKill)
	require.GreaterOrEqual(t, nAcked, crashKillAfter)
	require.Less(t, nAcked, crashRequests, "the kill came in the middle of the stream")
	// Acknowledged calls were waiting in the queue, not in the stores: only
	// the persistent queue can bring them back.
	require.Less(t, sqliteAtKill, nAcked*crashSpansPerReq)
	require.Less(t, pgAtKill, nAcked*crashSpansPerReq)

	c.restart(t)
	resent := 0
	for i, b := range bodies {
		if !acked[i] {
			require.True(t, post(client, c.http, b), "resend request %d", i)
			resent++
		}
	}
	t.Logf("resent %d requests after the restart", resent)

	total := crashRequests * crashSpansPerReq
	require.Eventually(t, func() bool { return countSQLite(c.dbPath) >= total && countPG(pgURL) >= total },
		90*time.Second, 200*time.Millisecond, "stores did not reach %d calls; output:\n%s", total, c.out)
	c.stop(t)

	db := openDB(t, c.dbPath)
	var sqliteIDs []string
	rows, err := db.QueryContext(context.Background(), `SELECT event_id FROM usage_records ORDER BY event_id`)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		sqliteIDs = append(sqliteIDs, id)
	}
	require.NoError(t, rows.Err())
	rows.Close()
	var sqliteInput int64
	require.NoError(t, db.QueryRowContext(context.Background(), `SELECT sum(input_tokens) FROM usage_records`).Scan(&sqliteInput))

	conn, err := pgx.Connect(context.Background(), pgURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var pgIDs []string
	prow, err := conn.Query(context.Background(), `SELECT event_id FROM usage_records ORDER BY event_id COLLATE "C"`)
	require.NoError(t, err)
	for prow.Next() {
		var id string
		require.NoError(t, prow.Scan(&id))
		pgIDs = append(pgIDs, id)
	}
	require.NoError(t, prow.Err())
	var pgInput int64
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT sum(input_tokens) FROM usage_records`).Scan(&pgInput))

	// Exactly once: the same 20,000 event ids (the primary key forbids a
	// second copy), and the token sum of the stream.
	assert.Equal(t, wantIDs, sqliteIDs, "SQLite")
	assert.Equal(t, wantIDs, pgIDs, "PostgreSQL")
	assert.Equal(t, wantInput, sqliteInput)
	assert.Equal(t, wantInput, pgInput)
}

func countSQLite(path string) int {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	db, err := sql.Open("sqlite", readOnlyDSN(path))
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM usage_records`).Scan(&n); err != nil {
		return 0
	}
	return n
}

func countPG(url string) int {
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		return 0
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM usage_records`).Scan(&n); err != nil {
		return 0
	}
	return n
}

// heldCrashConfig holds calls for a minute, far longer than the test, in
// file_storage, as the ledger's queue is: only the arrival of their ancestors
// can let them go, before or after the kill.
const heldCrashConfig = `
extensions:
  file_storage:
    directory: {{DIR}}/storage
    create_directory: true
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      tenant: [tenant.id]
      ancestors:
        wait: 1m
        storage: file_storage
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
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

// TestCrashKeepsHeldCalls sends the LLM calls of six traces whose root spans
// (which carry the tenant) have not been sent, so that the processor holds
// them after acknowledging their requests; lets the two calls of the first
// trace go with its root; kills the collector (SIGKILL); restarts it and
// sends the other roots. Every call must be in the ledger exactly once, under
// its trace's tenant: the ten calls still held at the kill come back from
// attribution.ancestors.storage, the two let go before it do not.
func TestCrashKeepsHeldCalls(t *testing.T) {
	metrics := freePort(t)
	c := startCollector(t, strings.ReplaceAll(heldCrashConfig, "{{METRICS}}", strconv.Itoa(metrics)))
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", metrics)
	counter := func(series string) float64 { return scrapeCounter(t, metricsURL, series) }

	const traces = 6
	traceID := func(k int) pcommon.TraceID { return pcommon.TraceID{0xc0, byte(k)} }
	root := func(k int) otlpSpan {
		return otlpSpan{"crash-held", traceID(k), spanRoot, pcommon.SpanID{}, "POST /chat",
			map[string]any{"tenant.id": fmt.Sprintf("tenant-%d", k)}, 3 * time.Second}
	}
	calls := func(ks ...int) []byte {
		var spans []otlpSpan
		for _, k := range ks {
			spans = append(spans,
				chatCall("crash-held", traceID(k), spanCall1, spanRoot, "gpt-4o", 4100, 730),
				chatCall("crash-held", traceID(k), spanCall2, spanRoot, "gpt-4o-mini", 260, 45))
		}
		return otlpRequest(spans...)
	}
	// The 200 of each request comes after its held calls are stored, and
	// after the calls it let go were accepted by the ledger's queue and
	// forgotten by the processor.
	c.post(t, calls(1, 2, 3))
	c.post(t, calls(4, 5, 6))
	c.post(t, otlpRequest(root(1)))
	assert.Equal(t, 12.0, counter(`otelcol_processor_genai_cost_calls_held`))
	assert.Equal(t, 2.0, counter(`otelcol_processor_genai_cost_calls_released{release_reason="ancestors_arrived"}`))
	c.kill(t)

	c.restart(t)
	assert.Equal(t, 10.0, counter(`otelcol_processor_genai_cost_calls_restored`), "held at the kill: traces 2 to 6")
	assert.Equal(t, 10.0, counter(`otelcol_processor_genai_cost_pending_calls`))
	roots := make([]otlpSpan, 0, traces-1)
	for k := 2; k <= traces; k++ {
		roots = append(roots, root(k))
	}
	c.post(t, otlpRequest(roots...))
	waitRows(t, c, 2*traces)
	assert.Equal(t, 10.0, counter(`otelcol_processor_genai_cost_calls_released{release_reason="ancestors_arrived"}`))
	assert.Zero(t, counter(`otelcol_processor_genai_cost_calls_unattributed`))
	assert.Zero(t, counter(`otelcol_processor_genai_cost_pending_calls`))
	c.stop(t)

	got := readRowsByEvent(t, openDB(t, c.dbPath))
	want := map[string]string{}
	for k := 1; k <= traces; k++ {
		for _, s := range []pcommon.SpanID{spanCall1, spanCall2} {
			want[usage.EventID(traceID(k), s)] = fmt.Sprintf("tenant-%d", k)
		}
	}
	tenants := map[string]string{}
	for id, r := range got {
		tenants[id] = r["tenant_id"]
	}
	assert.Equal(t, want, tenants, "each call once (event id is the primary key), under its tenant")
}
