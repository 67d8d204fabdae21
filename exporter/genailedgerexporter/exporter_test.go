package genailedgerexporter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore/sqlitestoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

func record(n int) usage.Record {
	return usage.Record{
		EventID:          fmt.Sprintf("%032x%016x", n, n),
		Time:             time.Date(2026, 3, 4, 5, 6, n, 250, time.UTC),
		TenantID:         "acme",
		UserID:           "u-1",
		SessionID:        "s-1",
		Feature:          "chat-reply",
		ServiceName:      "chat",
		Environment:      "prod",
		Provider:         "openai",
		Operation:        "chat",
		RequestModel:     "gpt-4o-mini",
		ResponseModel:    "gpt-4o-mini-2024-07-18",
		CatalogProvider:  "openai",
		CatalogModel:     "gpt-4o-mini",
		InputTokens:      500,
		OutputTokens:     100,
		CacheReadTokens:  200,
		CacheWriteTokens: 10,
		ReasoningTokens:  20,
		CostUSD:          "0.000135",
		TokenConvention:  "inclusive",
		PricingStatus:    usage.StatusPriced,
		PricingDetail:    "catalog 2026-03-01",
		Billable:         true,
		BillableReason:   "tenant plan",
		TraceID:          fmt.Sprintf("%032x", n),
		SpanID:           fmt.Sprintf("%016x", n),
	}
}

// row is what record(n) is stored as.
func row(n int) sqlitestoretest.Row {
	return sqlitestoretest.Row{
		"event_id": fmt.Sprintf("%032x%016x", n, n), "time": fmt.Sprintf("2026-03-04T05:06:%02d.000000250Z", n),
		"tenant_id": "acme", "user_id": "u-1", "session_id": "s-1", "feature": "chat-reply",
		"service_name": "chat", "environment": "prod",
		"provider": "openai", "operation": "chat",
		"request_model": "gpt-4o-mini", "response_model": "gpt-4o-mini-2024-07-18",
		"catalog_provider": "openai", "catalog_model": "gpt-4o-mini",
		"input_tokens": int64(500), "output_tokens": int64(100), "cache_read_tokens": int64(200),
		"cache_write_tokens": int64(10), "reasoning_tokens": int64(20),
		"cost_usd": "0.000135", "reported_cost_usd": nil, "token_convention": "inclusive",
		"pricing_status": "priced", "pricing_detail": "catalog 2026-03-01",
		"billable": int64(1), "billable_reason": "tenant plan",
		"trace_id": fmt.Sprintf("%032x", n), "span_id": fmt.Sprintf("%016x", n),
		"plan": nil, "revenue_usd": nil, "price_ref": nil, "service_tier": nil,
		"input_audio_tokens": int64(0), "output_audio_tokens": int64(0), "cache_write_1h_tokens": int64(0),
		"completion": nil, "cost_reconciliation": nil, "cost_source": nil, "credits": nil,
	}
}

// logsOf builds fresh Logs on every call: with the queue's batching on, a
// Logs handed to ConsumeLogs is moved out of and must not be reused.
func logsOf(items ...func(plog.LogRecord)) plog.Logs {
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	for _, f := range items {
		f(lrs.AppendEmpty())
	}
	return ld
}

func usageLog(n int) func(plog.LogRecord) {
	return func(lr plog.LogRecord) { r := record(n); r.ToLogRecord(lr) }
}

// foreignLog is an ordinary application log: not a usage record.
func foreignLog(lr plog.LogRecord) { lr.Body().SetStr("hello") }

// malformedLog is a usage record whose input token count has the wrong type.
func malformedLog(lr plog.LogRecord) {
	r := record(99)
	r.ToLogRecord(lr)
	lr.Attributes().PutStr(usage.AttrInputTokens, "500")
}

func testConfig(t *testing.T) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.SQLite.Path = filepath.Join(t.TempDir(), "data", "usage.db")
	return cfg
}

// runExporter runs one factory-built exporter through its whole lifecycle:
// Start, one ConsumeLogs per batch, Shutdown (which drains the queue).
func runExporter(t *testing.T, set exporter.Settings, cfg *Config, batches ...plog.Logs) []error {
	t.Helper()
	ctx := context.Background()
	exp, err := NewFactory().CreateLogs(ctx, set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(ctx, componenttest.NewNopHost()))
	var errs []error
	for _, ld := range batches {
		errs = append(errs, exp.ConsumeLogs(ctx, ld))
	}
	require.NoError(t, exp.Shutdown(ctx))
	return errs
}

var sqliteSinkAttr = attribute.String("sink", "sqlite")

func sumPoint(v int64, attrs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Value: v, Attributes: attribute.NewSet(attrs...)}
}

func TestExporterStoresRowsAndReplayAddsNothing(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := testConfig(t)

	errs := runExporter(t, metadatatest.NewSettings(tel), cfg, logsOf(usageLog(1), usageLog(2)))
	assert.Equal(t, []error{nil}, errs)
	want := []sqlitestoretest.Row{row(1), row(2)}
	assert.Equal(t, want, sqlitestoretest.Rows(t, cfg.SQLite.Path))

	// The same batch again, through a restarted exporter on the same file (a
	// retry after a crash): nothing is added.
	errs = runExporter(t, metadatatest.NewSettings(tel), cfg, logsOf(usageLog(1), usageLog(2)))
	assert.Equal(t, []error{nil}, errs)
	assert.Equal(t, want, sqlitestoretest.Rows(t, cfg.SQLite.Path))

	metadatatest.AssertEqualExporterGenaiLedgerRecordsWritten(t, tel,
		[]metricdata.DataPoint[int64]{sumPoint(2, sqliteSinkAttr)}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualExporterGenaiLedgerRecordsDuplicate(t, tel,
		[]metricdata.DataPoint[int64]{sumPoint(2, sqliteSinkAttr)}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	_, err := tel.GetMetric("otelcol_exporter_genai_ledger_records_rejected")
	assert.Error(t, err, "nothing was rejected")
}

func TestExporterStoresGoodRecordsOfABatchWithBadOnes(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	core, logs := observer.New(zapcore.WarnLevel)
	set := metadatatest.NewSettings(tel)
	set.Logger = zap.New(core)
	cfg := testConfig(t)

	errs := runExporter(t, set, cfg, logsOf(usageLog(1), foreignLog, malformedLog, usageLog(3)))
	assert.Equal(t, []error{nil}, errs)
	assert.Equal(t, []sqlitestoretest.Row{row(1), row(3)}, sqlitestoretest.Rows(t, cfg.SQLite.Path))

	metadatatest.AssertEqualExporterGenaiLedgerRecordsWritten(t, tel,
		[]metricdata.DataPoint[int64]{sumPoint(2, sqliteSinkAttr)}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
	metadatatest.AssertEqualExporterGenaiLedgerRecordsRejected(t, tel, []metricdata.DataPoint[int64]{
		sumPoint(1, attribute.String("reason", "not_usage_record")),
		sumPoint(1, attribute.String("reason", "malformed")),
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())

	require.Equal(t, 1, logs.Len())
	entry := logs.All()[0]
	assert.Equal(t, zapcore.WarnLevel, entry.Level)
	assert.Equal(t, "Rejected log records that are not valid usage records; they are not stored", entry.Message)
	assert.Equal(t, map[string]any{
		"rejected": int64(2), "not_usage_record": int64(1), "malformed": int64(1), "accepted": int64(2),
		"reasons": "record 1 (no event_id) not_usage_record: " + usage.ErrNotUsageRecord.Error() +
			"; record 2 (event_id " + record(99).EventID + ") malformed: genaimeter.input_tokens: want an int, got Str",
	}, entry.ContextMap())
}

// A batch of nothing but bad records is a permanent error: retrying bad data
// cannot help. The queue is off so that the error reaches the caller.
func TestExporterAllBadIsPermanent(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	cfg := testConfig(t)
	cfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()

	errs := runExporter(t, metadatatest.NewSettings(tel), cfg, logsOf(foreignLog, foreignLog))
	require.Len(t, errs, 1)
	assert.True(t, consumererror.IsPermanent(errs[0]), "%v", errs[0])
	// exporterhelper's retry sender prefixes the permanent error it gives up on.
	assert.EqualError(t, errs[0], "not retryable error: Permanent error: genai_ledger: all 2 log records rejected: "+
		"record 0 (no event_id) not_usage_record: "+usage.ErrNotUsageRecord.Error()+
		"; record 1 (no event_id) not_usage_record: "+usage.ErrNotUsageRecord.Error())
	assert.Empty(t, sqlitestoretest.Rows(t, cfg.SQLite.Path))
	metadatatest.AssertEqualExporterGenaiLedgerRecordsRejected(t, tel, []metricdata.DataPoint[int64]{
		sumPoint(2, attribute.String("reason", "not_usage_record")),
	}, metricdatatest.IgnoreTimestamp(), metricdatatest.IgnoreExemplars())
}

func TestRejectionSummaryIsBounded(t *testing.T) {
	var r rejection
	for i := range 13 {
		r.add(i, 13, fmt.Sprintf("e%d", i), errors.New("bad"))
	}
	assert.Equal(t, "record 0 (event_id e0) malformed: bad; record 1 (event_id e1) malformed: bad; record 2 (event_id e2) malformed: bad; "+
		"record 3 (event_id e3) malformed: bad; record 4 (event_id e4) malformed: bad; record 5 (event_id e5) malformed: bad; "+
		"record 6 (event_id e6) malformed: bad; record 7 (event_id e7) malformed: bad; record 8 (event_id e8) malformed: bad; "+
		"record 9 (event_id e9) malformed: bad; and 3 more", r.summary())
}

// startedExporter returns an exporter whose push function is called directly,
// to see the exact error it hands to exporterhelper.
func startedExporter(t *testing.T, tel *componenttest.Telemetry) *ledgerExporter {
	cfg := testConfig(t)
	e := newLedgerExporter(cfg, metadatatest.NewSettings(tel))
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, e.shutdown(context.Background())) })
	return e
}

// A store error is retryable (not permanent), and when the batch had bad
// records the retry carries only the good ones, so that the bad ones are not
// counted and logged again on every attempt.
func TestExporterStoreErrorIsRetryableWithGoodRecordsOnly(t *testing.T) {
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	e := startedExporter(t, tel)
	require.NoError(t, e.sink.(*sqliteSink).store.Close()) // a broken store: every statement fails

	err := e.pushLogs(context.Background(), logsOf(usageLog(1)))
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	assert.EqualError(t, err, "sqlitestore: insert: sql: database is closed")

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "chat")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("genaimeter")
	foreignLog(sl.LogRecords().AppendEmpty())
	usageLog(1)(sl.LogRecords().AppendEmpty())
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("other")
	usageLog(2)(rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())

	err = e.pushLogs(context.Background(), ld)
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
	var le consumererror.Logs
	require.ErrorAs(t, err, &le)
	want := plog.NewLogs()
	wrl := want.ResourceLogs().AppendEmpty()
	wrl.Resource().Attributes().PutStr("service.name", "chat")
	wsl := wrl.ScopeLogs().AppendEmpty()
	wsl.Scope().SetName("genaimeter")
	usageLog(1)(wsl.LogRecords().AppendEmpty())
	usageLog(2)(wrl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty())
	assert.Equal(t, want, le.Data())
}

func TestExporterStartFailsWhenTheDatabaseCannotBeOpened(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	require.NoError(t, os.WriteFile(blocker, []byte("x"), 0o600))
	cfg := createDefaultConfig().(*Config)
	cfg.SQLite.Path = filepath.Join(blocker, "usage.db")

	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err, "no I/O in the constructor")
	err = exp.Start(context.Background(), componenttest.NewNopHost())
	assert.ErrorContains(t, err, fmt.Sprintf("sqlitestore: create directory of %q: ", cfg.SQLite.Path))
	require.NoError(t, exp.Shutdown(context.Background()))
}

func TestExporterStartFailsOnANewerSchema(t *testing.T) {
	cfg := testConfig(t)
	s, err := sqlitestore.Open(cfg.SQLite.Path)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	newer := sqlitestore.SchemaVersion + 1
	_, err = s.DB().Exec(`UPDATE schema_version SET version = ?`, newer)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = exp.Start(context.Background(), componenttest.NewNopHost())
	assert.EqualError(t, err, fmt.Sprintf("sqlitestore: database %q has schema version %d, this binary knows up to %d", cfg.SQLite.Path, newer, sqlitestore.SchemaVersion))
	require.NoError(t, exp.Shutdown(context.Background()))
}

func TestShutdownIsIdempotentAndNilSafe(t *testing.T) {
	e := newLedgerExporter(testConfig(t), exportertest.NewNopSettings(metadata.Type))
	require.NoError(t, e.shutdown(context.Background()), "before start")
	require.NoError(t, e.start(context.Background(), componenttest.NewNopHost()))
	require.NoError(t, e.shutdown(context.Background()))
	require.NoError(t, e.shutdown(context.Background()))
}
