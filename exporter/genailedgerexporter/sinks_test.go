package genailedgerexporter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore/sqlitestoretest"
	"github.com/genaimeter/genaimeter/internal/store/usagejson"
	"github.com/genaimeter/genaimeter/internal/usage"
)

var fixedNow = time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)

// startExporter starts an exporter built from cfg (as the factory would, but
// with the dead letter's clock fixed) and returns it for direct pushLogs calls.
func startExporter(t *testing.T, tel *componenttest.Telemetry, cfg *Config, name string) *ledgerExporter {
	t.Helper()
	set := metadatatest.NewSettings(tel)
	set.ID = component.NewIDWithName(metadata.Type, name)
	e := newLedgerExporter(cfg, set)
	if e.deadLetter != nil {
		e.deadLetter.now = func() time.Time { return fixedNow }
	}
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e
}

func ignore() []metricdatatest.Option {
	return []metricdatatest.Option{metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars()}
}

// nulLog is a valid usage record PostgreSQL cannot store: text with a NUL byte.
func nulLog(lr plog.LogRecord) {
	r := record(3)
	r.UserID = "u-\x00"
	r.ToLogRecord(lr)
}

// TestPostgresSink stores a batch in a real PostgreSQL database: the good
// records are stored once, a record PostgreSQL refuses is isolated by
// splitting the batch and dead-lettered with the decoded record, a foreign log
// is dead-lettered as received, and a replay adds nothing.
func TestPostgresSink(t *testing.T) {
	url := pgstoretest.NewDatabase(t)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	pc := cfg.Postgres.GetOrInsertDefault()
	pc.Endpoint = url
	pc.TLS.Insecure = true
	dl := filepath.Join(t.TempDir(), "dl", "dead.jsonl")
	cfg.DeadLetter = configoptional.Some(DeadLetterConfig{Path: dl})
	require.NoError(t, cfg.Validate())
	e := startExporter(t, tel, cfg, "pg")

	require.NoError(t, e.pushLogs(context.Background(), logsOf(usageLog(1), foreignLog, nulLog, usageLog(2))))
	require.NoError(t, e.pushLogs(context.Background(), logsOf(usageLog(2), usageLog(1))))

	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), `SELECT event_id, cost_usd::text, time FROM usage_records ORDER BY event_id`)
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var id, cost string
		var ts time.Time
		require.NoError(t, rows.Scan(&id, &cost, &ts))
		got = append(got, id+" "+cost+" "+ts.UTC().Format(time.RFC3339Nano))
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []string{
		record(1).EventID + " 0.000135 2026-03-04T05:06:01Z", // 250ns truncated to the microsecond
		record(2).EventID + " 0.000135 2026-03-04T05:06:02Z",
	}, got)

	bad := record(3)
	bad.UserID = "u-\x00"
	pgErr := `Permanent error: pgstore: insert: copy: ERROR: invalid byte sequence for encoding \"UTF8\": 0x00 (SQLSTATE 22021)`
	assert.Equal(t, `{"time":"2026-03-05T00:00:00Z","exporter":"genai_ledger/pg","reason":"not_usage_record",`+
		`"error":"not a genaimeter usage record: missing genaimeter.event_id","log_record":{"body":"hello"}}`+"\n"+
		`{"time":"2026-03-05T00:00:00Z","exporter":"genai_ledger/pg","reason":"store_rejected","error":"`+pgErr+`",`+
		`"event_ids":["`+bad.EventID+`"],"record":`+string(usagejson.Append(nil, &bad))+"}\n", readFile(t, dl))

	sink := attribute.String("sink", "postgres")
	metadatatest.AssertEqualExporterGenaiLedgerRecordsWritten(t, tel, []metricdata.DataPoint[int64]{sumPoint(2, sink)}, ignore()...)
	metadatatest.AssertEqualExporterGenaiLedgerRecordsDuplicate(t, tel, []metricdata.DataPoint[int64]{sumPoint(2, sink)}, ignore()...)
	metadatatest.AssertEqualExporterGenaiLedgerRecordsRejected(t, tel, []metricdata.DataPoint[int64]{
		sumPoint(1, attribute.String("reason", "not_usage_record")),
		sumPoint(1, attribute.String("reason", "store_rejected")),
	}, ignore()...)
	metadatatest.AssertEqualExporterGenaiLedgerRecordsDeadLettered(t, tel, []metricdata.DataPoint[int64]{
		sumPoint(1, attribute.String("reason", "not_usage_record")),
		sumPoint(1, attribute.String("reason", "store_rejected")),
	}, ignore()...)
	// [1 nul 2] fails, [1] is stored, [nul 2] fails, [nul] fails alone, [2] is stored.
	metadatatest.AssertEqualExporterGenaiLedgerWriteFailures(t, tel, []metricdata.DataPoint[int64]{
		sumPoint(3, sink, attribute.String("error_type", "permanent")),
	}, ignore()...)
}

// An unreachable PostgreSQL does not fail the start (issue 11, item 6): the
// sink starts unconnected and refuses batches with a retryable error naming
// why, so that they stay queued; shutdown stops its reconnection loop.
func TestPostgresSinkStartsUnconnectedWhenUnreachable(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	pc := cfg.Postgres.GetOrInsertDefault()
	pc.Endpoint = "postgres://nobody@127.0.0.1:1/none?connect_timeout=2"
	pc.TLS.Insecure = true
	e := newLedgerExporter(cfg, metadatatest.NewSettings(componenttest.NewTelemetry()))
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	_, err := e.sink.Write(context.Background(), []usage.Record{record(1)})
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "retryable: the batch stays queued")
	assert.Contains(t, err.Error(), "genai_ledger: PostgreSQL not connected yet, the batch stays queued: pgstore: connect to 127.0.0.1:1/none: ")
	require.NoError(t, e.shutdown(context.Background()))
}

// TLS settings come from postgres.tls only: pgx's "prefer" fallback to a
// plain connection is removed, and a multi-host URL keeps one entry per host.
func TestPostgresPoolConfigTLS(t *testing.T) {
	c := PostgresConfig{Endpoint: "postgres://u@db1:5432,db2:5433/billing", Password: "pw", MaxConns: 3}
	pc, err := c.poolConfig(context.Background())
	require.NoError(t, err)
	require.NotNil(t, pc.ConnConfig.TLSConfig)
	assert.Equal(t, "db1", pc.ConnConfig.TLSConfig.ServerName)
	assert.False(t, pc.ConnConfig.TLSConfig.InsecureSkipVerify)
	require.Len(t, pc.ConnConfig.Fallbacks, 1)
	assert.Equal(t, "db2", pc.ConnConfig.Fallbacks[0].Host)
	assert.Equal(t, "db2", pc.ConnConfig.Fallbacks[0].TLSConfig.ServerName)
	assert.Equal(t, "pw", pc.ConnConfig.Password)
	assert.Equal(t, int32(3), pc.MaxConns)

	c.TLS.Insecure = true
	pc, err = c.poolConfig(context.Background())
	require.NoError(t, err)
	assert.Nil(t, pc.ConnConfig.TLSConfig)
	assert.Nil(t, pc.ConnConfig.Fallbacks[0].TLSConfig)
}

// TestKafkaSink produces to franz-go's in-process Kafka cluster: one message
// per record, key = tenant (a tenant's records on one partition, in order),
// event id and schema version in headers, the value usagejson; a record
// larger than the message limit is refused alone and dead-lettered.
func TestKafkaSink(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "genaimeter.usage"))
	require.NoError(t, err)
	t.Cleanup(cluster.Close)
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := createDefaultConfig().(*Config)
	kc := cfg.Kafka.GetOrInsertDefault()
	kc.Brokers = cluster.ListenAddrs()
	kc.MaxMessageBytes = 4096
	dl := filepath.Join(t.TempDir(), "dead.jsonl")
	cfg.DeadLetter = configoptional.Some(DeadLetterConfig{Path: dl})
	require.NoError(t, cfg.Validate())
	e := startExporter(t, tel, cfg, "kafka")

	recs := []usage.Record{record(1), record(2), record(3), record(4)}
	recs[1].TenantID = "globex"
	recs[3].TenantID = "globex"
	huge := record(5)
	huge.PricingDetail = strings.Repeat("x", 5000)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, r := range []usage.Record{recs[0], recs[1], huge, recs[2], recs[3]} {
		r.ToLogRecord(lrs.AppendEmpty())
	}
	require.NoError(t, e.pushLogs(context.Background(), ld))

	consumer, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("genaimeter.usage"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	require.NoError(t, err)
	defer consumer.Close()
	var got []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(got) < 4 && ctx.Err() == nil {
		consumer.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, r) })
	}
	require.Len(t, got, 4)
	byTenant := map[string][]*kgo.Record{}
	for _, m := range got {
		byTenant[string(m.Key)] = append(byTenant[string(m.Key)], m)
	}
	for tenant, want := range map[string][]usage.Record{"acme": {recs[0], recs[2]}, "globex": {recs[1], recs[3]}} {
		ms := byTenant[tenant]
		require.Len(t, ms, 2, tenant)
		sort.Slice(ms, func(i, j int) bool { return ms[i].Offset < ms[j].Offset })
		assert.Equal(t, ms[0].Partition, ms[1].Partition, "a tenant's records share a partition")
		for i, m := range ms {
			assert.Equal(t, string(usagejson.Append(nil, &want[i])), string(m.Value), "in order")
			assert.Equal(t, []kgo.RecordHeader{
				{Key: "genaimeter.event_id", Value: []byte(want[i].EventID)},
				{Key: "genaimeter.schema_version", Value: []byte("3")},
			}, m.Headers)
		}
	}

	// franz-go refuses the record before sending it: it alone exceeds max_message_bytes.
	assert.Equal(t, `{"time":"2026-03-05T00:00:00Z","exporter":"genai_ledger/kafka","reason":"store_rejected",`+
		`"error":"kafka: MESSAGE_TOO_LARGE: The request included a message larger than the max message size the server will accept (uncompressed_bytes=5893)",`+
		`"event_ids":["`+huge.EventID+`"],"record":`+string(usagejson.Append(nil, &huge))+"}\n", readFile(t, dl))

	sink := attribute.String("sink", "kafka")
	metadatatest.AssertEqualExporterGenaiLedgerRecordsWritten(t, tel, []metricdata.DataPoint[int64]{sumPoint(4, sink)}, ignore()...)
	metadatatest.AssertEqualExporterGenaiLedgerRecordsRejected(t, tel, []metricdata.DataPoint[int64]{
		sumPoint(1, attribute.String("reason", "store_rejected")),
	}, ignore()...)
}

// A Kafka cluster that is gone is a retryable error: the queue keeps the records.
func TestKafkaSinkUnavailableIsRetryable(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "genaimeter.usage"))
	require.NoError(t, err)
	addrs := cluster.ListenAddrs()
	cluster.Close()
	cfg := createDefaultConfig().(*Config)
	cfg.Kafka.GetOrInsertDefault().Brokers = addrs
	e := startExporter(t, componenttest.NewTelemetry(), cfg, "kafka")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = e.pushLogs(ctx, logsOf(usageLog(1)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err), "%v", err)
	assert.ErrorContains(t, err, "kafka: produce to genaimeter.usage: ")
}

// TestFileSinkRotates writes JSON lines and rotates by age and by size; every
// line is a record, in order, across the rotated files.
func TestFileSinkRotates(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	s := &fileSink{cfg: &FileConfig{Path: filepath.Join(dir, "usage.jsonl"), MaxSizeMiB: 1, MaxAge: time.Hour},
		now: func() time.Time { return now }}
	require.NoError(t, s.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	batch := func(from, n int) []usage.Record {
		var recs []usage.Record
		for i := range n {
			recs = append(recs, record(from+i))
		}
		return recs
	}
	write := func(recs []usage.Record) {
		res, err := s.Write(context.Background(), recs)
		require.NoError(t, err)
		assert.Equal(t, writeResult{Written: len(recs)}, res)
	}
	write(batch(0, 2))
	now = now.Add(59 * time.Minute)
	write(batch(2, 1)) // younger than max_age: same file
	now = now.Add(time.Minute)
	write(batch(3, 1)) // an hour old: rotated first
	write(batch(4, 1000))
	write(batch(1004, 1000)) // would pass 1 MiB: rotated first

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// The second rotation happened at the same instant: it gets a suffix
	// instead of overwriting the first.
	assert.Equal(t, []string{"usage-20260304T010000.000000000Z-1.jsonl", "usage-20260304T010000.000000000Z.jsonl", "usage.jsonl"}, names)

	first := readFile(t, filepath.Join(dir, names[1]))
	var want bytes.Buffer
	for _, r := range batch(0, 3) {
		want.Write(usagejson.Append(nil, &r))
		want.WriteByte('\n')
	}
	assert.Equal(t, want.String(), first)
	second := readFile(t, filepath.Join(dir, names[0]))
	assert.Equal(t, 1001, strings.Count(second, "\n"))
	assert.LessOrEqual(t, len(second), 1<<20)
	assert.Equal(t, 1000, strings.Count(readFile(t, filepath.Join(dir, "usage.jsonl")), "\n"))
}

// TestFileSinkFilesArePrivate: the file sink's current and rotated files are
// usage data: created 0600 under the usual umask 022 (were 0640; issue 11,
// item 5).
func TestFileSinkFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	now := time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)
	s := &fileSink{cfg: &FileConfig{Path: filepath.Join(dir, "usage.jsonl"), MaxAge: time.Hour},
		now: func() time.Time { return now }}
	require.NoError(t, s.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	_, err := s.Write(context.Background(), []usage.Record{record(0)})
	require.NoError(t, err)
	now = now.Add(time.Hour)
	_, err = s.Write(context.Background(), []usage.Record{record(1)}) // rotates first
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	for _, e := range entries {
		st, err := os.Stat(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), e.Name())
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// When the dead letter cannot be written, the whole batch fails with a
// retryable error and nothing is counted or stored: a refused record is never
// dropped without its trace.
func TestDeadLetterFailureRetriesTheBatch(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := testConfig(t)
	cfg.DeadLetter = configoptional.Some(DeadLetterConfig{Path: filepath.Join(t.TempDir(), "dead.jsonl")})
	e := startExporter(t, tel, cfg, "")
	// The dead-letter path turns into a directory: the file cannot be written.
	path := cfg.DeadLetter.Get().Path
	require.NoError(t, e.deadLetter.close())
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Mkdir(path, 0o700))

	err := e.pushLogs(context.Background(), logsOf(usageLog(1), foreignLog))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.ErrorContains(t, err, "genai_ledger: dead_letter: open "+path+": is a directory")
	assert.Empty(t, sqlitestoretest.Rows(t, cfg.SQLite.Path))
	_, err = tel.GetMetric("otelcol_exporter_genai_ledger_records_rejected")
	assert.Error(t, err, "nothing counted before the dead letter is written")
}
