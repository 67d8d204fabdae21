package e2e

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/store/usagejson"
)

// storesConfig fans the usage records out to four genai_ledger instances, one
// per sink, side by side in one pipeline.
const storesConfig = `
receivers:
  otlp:
    protocols:
      http:
        endpoint: {{HTTP}}
processors:
  genai_cost:
    attribution:
      tenant: [tenant.id, tenant_id]
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: {{DB}}
  genai_ledger/postgres:
    postgres:
      endpoint: {{PG}}
      tls:
        insecure: true
  genai_ledger/kafka:
    kafka:
      brokers: [{{KAFKA}}]
  genai_ledger/file:
    file:
      path: {{DIR}}/usage.jsonl
service:
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
      exporters: [genai_ledger, genai_ledger/postgres, genai_ledger/kafka, genai_ledger/file]
`

// TestStoresSideBySide sends the real-client captures through the built
// collector with SQLite, PostgreSQL, Kafka (franz-go's in-process cluster on
// loopback) and file sinks configured side by side, and checks that every
// sink holds the same records: the same event ids, tenants and exact costs.
func TestStoresSideBySide(t *testing.T) {
	pgURL := pgstoretest.NewDatabase(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "genaimeter.usage"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	cfg := strings.NewReplacer("{{PG}}", pgURL, "{{KAFKA}}", cluster.ListenAddrs()[0]).Replace(storesConfig)
	c := startCollector(t, cfg)
	root := repoRoot(t)
	for _, name := range []string{"otel-openai", "traceloop-openai", "traceloop-anthropic", "openinference-openai", "vercel-ai"} {
		c.sendFile(t, filepath.Join(root, "testdata", "realclients", name+".otlp.jsonl"))
	}
	n := len(realClientRecords)
	waitRows(t, c, n)
	c.stop(t) // drains every queue

	// event id -> "tenant cost" (cost "NULL" when unpriced), per sink.
	want := map[string]string{}
	for _, r := range realClientRecords {
		want[r.trace+r.span] = r.tenant + " " + r.cost
	}

	sqliteGot := map[string]string{}
	for _, r := range readRows(t, openDB(t, c.dbPath)) {
		sqliteGot[r["event_id"]] = r["tenant_id"] + " " + r["cost_usd"]
	}
	assert.Equal(t, want, sqliteGot, "sqlite")

	conn, err := pgx.Connect(context.Background(), pgURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT event_id, tenant_id, coalesce(cost_usd::text, 'NULL') FROM usage_records`)
	require.NoError(t, err)
	pgGot := map[string]string{}
	for rows.Next() {
		var id, tenant, cost string
		require.NoError(t, rows.Scan(&id, &tenant, &cost))
		pgGot[id] = tenant + " " + cost
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, want, pgGot, "postgres")

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("genaimeter.usage"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer consumer.Close()
	kafkaGot := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(kafkaGot) < n && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(m *kgo.Record) {
			r, err := usagejson.Unmarshal(m.Value)
			require.NoError(t, err)
			assert.Equal(t, r.TenantID, string(m.Key), "key = tenant")
			kafkaGot[r.EventID] = r.TenantID + " " + nullIfEmpty(r.CostUSD)
		})
	}
	assert.Equal(t, want, kafkaGot, "kafka")

	f, err := os.Open(filepath.Join(c.dir, "usage.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	fileGot := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		r, err := usagejson.Unmarshal(sc.Bytes())
		require.NoError(t, err)
		fileGot[r.EventID] = r.TenantID + " " + nullIfEmpty(r.CostUSD)
	}
	require.NoError(t, sc.Err())
	assert.Equal(t, want, fileGot, "file")
}

func nullIfEmpty(s string) string {
	if s == "" {
		return "NULL"
	}
	return s
}

// benchConfig is one sink behind the whole pipeline, with the default queue
// and batching.
const benchConfig = `
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
{{SINK}}
service:
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
      exporters: [genai_ledger]
`

// benchRequests per benchmark iteration: 50,000 calls, so that the last
// partial batch's flush timeout (200ms) weighs little in the figure.
const benchRequests = 500

// benchmarkCollector measures sustained records/s through the built
// collector: OTLP/HTTP protobuf requests of 100 calls from 4 concurrent
// clients (in this process, on the same cores), 50,000 new calls per
// iteration, until wait returns (the store holds want records, every call
// sent so far). The figure includes the receiver, genai_cost, genai_usage and
// the exporter's queue and batching: the end-to-end rate. It returns the
// running collector and the number of calls sent.
func benchmarkCollector(b *testing.B, sink string, wait func(c *collector, want int)) (*collector, int) {
	c := startCollector(b, strings.ReplaceAll(benchConfig, "{{SINK}}", sink))
	client := &http.Client{Timeout: 30 * time.Second}
	var sent atomic.Int64
	for it := 0; b.Loop(); it++ {
		// New calls every iteration (request numbers go on), built outside
		// the timer: the figure is the collector's, not the load generator's.
		b.StopTimer()
		bodies := make([][]byte, benchRequests)
		for i := range bodies {
			bodies[i], _, _ = crashRequest(it*benchRequests + i)
		}
		b.StartTimer()
		var wg sync.WaitGroup
		var next atomic.Int64
		for range 4 {
			wg.Go(func() {
				for {
					i := int(next.Add(1)) - 1
					if i >= benchRequests {
						return
					}
					if !post(client, c.http, bodies[i]) {
						b.Errorf("request %d refused", i)
						return
					}
					sent.Add(crashSpansPerReq)
				}
			})
		}
		wg.Wait()
		wait(c, int(sent.Load()))
	}
	b.ReportMetric(float64(sent.Load())/b.Elapsed().Seconds(), "records/s")
	return c, int(sent.Load())
}

// BenchmarkCollectorPostgres: end-to-end records/s into PostgreSQL, and the
// size of the table with its indexes per record.
func BenchmarkCollectorPostgres(b *testing.B) {
	pgURL := pgstoretest.NewDatabase(b)
	sink := "    postgres:\n      endpoint: " + pgURL + "\n      tls:\n        insecure: true"
	c, _ := benchmarkCollector(b, sink, func(_ *collector, want int) {
		// No rowid to seek in PostgreSQL: poll count(*).
		deadline := time.Now().Add(5 * time.Minute)
		for countPG(pgURL) < want {
			if time.Now().After(deadline) {
				b.Fatalf("store did not reach %d records", want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	c.stop(b)
	conn, err := pgx.Connect(context.Background(), pgURL)
	require.NoError(b, err)
	defer conn.Close(context.Background())
	var size, n int64
	require.NoError(b, conn.QueryRow(context.Background(),
		`SELECT pg_total_relation_size('usage_records'), (SELECT count(*) FROM usage_records)`).Scan(&size, &n))
	b.ReportMetric(float64(size)/float64(n), "disk-bytes/record")
}
