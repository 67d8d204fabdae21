package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/pgstore/pgstoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgstoretest.NewDatabase(t))
	require.NoError(t, err)
	s, err := Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func pricedRecord() usage.Record {
	return usage.Record{
		EventID: "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331",
		// 250ns past the microsecond: stored truncated, never rounded up.
		Time:     time.Date(2026, 3, 4, 5, 6, 7, 500_000_250, time.FixedZone("CET", 3600)),
		TenantID: "acme", UserID: "u-1", SessionID: "s-9", Feature: "summarize", ServiceName: "chat",
		Environment: "prod", Provider: "openai", Operation: "chat", RequestModel: "gpt-4o-mini",
		ResponseModel: "gpt-4o-mini-2024-07-18", CatalogProvider: "openai", CatalogModel: "gpt-4o-mini",
		InputTokens: 500, OutputTokens: 100, CacheReadTokens: 200, CacheWriteTokens: 10, ReasoningTokens: 20,
		InputAudioTokens: 30, OutputAudioTokens: 40, CacheWrite1hTokens: 5,
		CostUSD: "0.000135", ReportedCostUSD: "0.00014", RevenueUSD: "0.000162000",
		CostReconciliation: usage.ReconcileDiffers, CostSource: usage.CostSourceCatalog, Completion: usage.CompletionComplete,
		PriceRef: "embedded:genai-prices@0.1.8#openai/gpt-4o-mini", ServiceTier: "flex", Plan: "pro",
		TokenConvention: "inclusive", PricingStatus: usage.StatusPriced, PricingDetail: "catalog 2026-03-01",
		Billable: true, BillableReason: "tenant plan",
		TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331",
	}
}

// rowsAsText reads usage_records back as text (NULL as "NULL"), ordered by event id.
func rowsAsText(t *testing.T, s *Store) []map[string]string {
	t.Helper()
	rows, err := s.Pool().Query(context.Background(), `SELECT * FROM usage_records ORDER BY event_id`)
	require.NoError(t, err)
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(t, err)
		m := map[string]string{}
		for i, f := range rows.FieldDescriptions() {
			switch v := vals[i].(type) {
			case nil:
				m[f.Name] = "NULL"
			case time.Time:
				m[f.Name] = v.UTC().Format(time.RFC3339Nano)
			default:
				m[f.Name] = fmt.Sprint(v)
			}
		}
		out = append(out, m)
	}
	require.NoError(t, rows.Err())
	// numeric comes back as pgtype.Numeric: read the exact text instead.
	cost, err := s.Pool().Query(context.Background(), `SELECT cost_usd::text, revenue_usd::text, reported_cost_usd::text FROM usage_records ORDER BY event_id`)
	require.NoError(t, err)
	defer cost.Close()
	for i := 0; cost.Next(); i++ {
		var c, r, rep *string
		require.NoError(t, cost.Scan(&c, &r, &rep))
		for k, v := range map[string]*string{"cost_usd": c, "revenue_usd": r, "reported_cost_usd": rep} {
			out[i][k] = "NULL"
			if v != nil {
				out[i][k] = *v
			}
		}
	}
	return out
}

func TestInsertStoresExactRowsAndIsIdempotent(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	unpriced := usage.Record{EventID: "e2" + strings.Repeat("0", 46), Time: time.Date(2026, 3, 4, 5, 6, 7, 999_999_999, time.UTC), TenantID: "acme",
		RequestModel: "mystery-model", InputTokens: 7, PricingStatus: usage.StatusUnpriced}
	ins, dup, err := s.Insert(ctx, []usage.Record{pricedRecord(), unpriced, unpriced})
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 1}, [2]int{ins, dup}, "an in-batch repeat is a duplicate")

	replay := pricedRecord()
	replay.CostUSD = "99"
	ins, dup, err = s.Insert(ctx, []usage.Record{replay, unpriced})
	require.NoError(t, err)
	assert.Equal(t, [2]int{0, 2}, [2]int{ins, dup}, "the first stored version wins")

	assert.Equal(t, []map[string]string{
		{
			"event_id": "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", "time": "2026-03-04T04:06:07.5Z",
			"tenant_id": "acme", "user_id": "u-1", "session_id": "s-9", "feature": "summarize", "service_name": "chat",
			"environment": "prod", "provider": "openai", "operation": "chat", "request_model": "gpt-4o-mini",
			"response_model": "gpt-4o-mini-2024-07-18", "catalog_provider": "openai", "catalog_model": "gpt-4o-mini",
			"input_tokens": "500", "output_tokens": "100", "cache_read_tokens": "200", "cache_write_tokens": "10", "reasoning_tokens": "20",
			"cost_usd": "0.000135", "reported_cost_usd": "0.00014", "token_convention": "inclusive", "pricing_status": "priced", "credits": "NULL",
			"pricing_detail": "catalog 2026-03-01", "billable": "true", "billable_reason": "tenant plan",
			"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331", "plan": "pro",
			"revenue_usd": "0.000162000", "price_ref": "embedded:genai-prices@0.1.8#openai/gpt-4o-mini", "service_tier": "flex",
			"input_audio_tokens": "30", "output_audio_tokens": "40", "cache_write_1h_tokens": "5",
			"completion": "complete", "cost_reconciliation": "differs", "cost_source": "catalog",
			"seq": "1", // the ledger sequence: insertion order
		},
		{
			// 23:59:59.999999999-style times are truncated, not rounded into the next second.
			"event_id": "e2" + strings.Repeat("0", 46), "time": "2026-03-04T05:06:07.999999Z", "tenant_id": "acme", "user_id": "NULL", "session_id": "NULL",
			"feature": "NULL", "service_name": "NULL", "environment": "NULL", "provider": "NULL", "operation": "NULL",
			"request_model": "mystery-model", "response_model": "NULL", "catalog_provider": "NULL", "catalog_model": "NULL",
			"input_tokens": "7", "output_tokens": "0", "cache_read_tokens": "0", "cache_write_tokens": "0", "reasoning_tokens": "0",
			"cost_usd": "NULL", "reported_cost_usd": "NULL", "token_convention": "NULL", "pricing_status": "unpriced", "credits": "NULL",
			"pricing_detail": "NULL", "billable": "false", "billable_reason": "NULL", "trace_id": "NULL", "span_id": "NULL",
			"plan": "NULL", "revenue_usd": "NULL", "price_ref": "NULL", "service_tier": "NULL", "seq": "2",
			"input_audio_tokens": "0", "output_audio_tokens": "0", "cache_write_1h_tokens": "0",
			"completion": "NULL", "cost_reconciliation": "NULL", "cost_source": "NULL",
		},
	}, rowsAsText(t, s))

	// Exact decimal sum in SQL.
	var sum string
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT sum(cost_usd)::text FROM usage_records`).Scan(&sum))
	assert.Equal(t, "0.000135", sum)
}

func TestInsertBadDataIsPermanentAndWritesNothing(t *testing.T) {
	s := openTemp(t)
	bad := pricedRecord()
	bad.EventID, bad.TraceID, bad.SpanID = strings.Repeat("b", 48), strings.Repeat("b", 32), strings.Repeat("b", 16)
	bad.UserID = "nul\x00byte" // PostgreSQL text cannot hold NUL
	_, _, err := s.Insert(context.Background(), []usage.Record{pricedRecord(), bad})
	require.Error(t, err)
	assert.True(t, IsPermanent(err), "%v", err)
	assert.ErrorContains(t, err, "pgstore: insert: copy: ERROR: invalid byte sequence for encoding \"UTF8\": 0x00 (SQLSTATE 22021)")
	assert.Empty(t, rowsAsText(t, s))
}

// TestInsertRefusesInvalidRecords: a record usage.ValidateRecord refuses
// is refused as permanent before anything is written.
func TestInsertRefusesInvalidRecords(t *testing.T) {
	s := openTemp(t)
	bad := pricedRecord()
	bad.PricingStatus = "free"
	_, _, err := s.Insert(context.Background(), []usage.Record{pricedRecord(), bad})
	require.ErrorIs(t, err, usage.ErrInvalidRecord)
	assert.True(t, IsPermanent(err), "%v", err)
	assert.EqualError(t, err, `pgstore: record 1 (event_id "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331"): invalid usage record: pricing_status: must be one of priced, unpriced, no_usage, invalid_usage, got "free"`)
	assert.Empty(t, rowsAsText(t, s))
}

func TestMigrateIsIdempotentAndRefusesNewerSchema(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
	assert.Len(t, migrations, SchemaVersion)
	_, err = s.Pool().Exec(ctx, `UPDATE schema_version SET version = $1`, SchemaVersion+1)
	require.NoError(t, err)
	assert.EqualError(t, s.Migrate(ctx), fmt.Sprintf("pgstore: database has schema version %d, this binary knows up to %d", SchemaVersion+1, SchemaVersion))
}

// TestMigrateFromVersion1 opens a ledger written by a version-1 binary (before
// audio, 1h cache writes, completion and cost reconciliation): its rows stay,
// with 0 audio and 1h tokens (what their price assumed) and the new text
// columns NULL, and new rows go in beside them.
func TestMigrateFromVersion1(t *testing.T) {
	url := pgstoretest.NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	_, err = s.Pool().Exec(ctx, `CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (1);`+migrations[0])
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `INSERT INTO usage_records (event_id, time, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable, plan)
		VALUES ('old', '2026-01-01T00:00:00Z', 1, 2, 0, 0, 0, 'priced', true, 'pro')`)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	_, _, err = s.Insert(ctx, []usage.Record{pricedRecord()})
	require.NoError(t, err)
	rows := rowsAsText(t, s)
	require.Len(t, rows, 2)
	pick := func(m map[string]string) []string {
		return []string{m["event_id"], m["plan"], m["input_audio_tokens"], m["output_audio_tokens"], m["cache_write_1h_tokens"],
			m["completion"], m["cost_reconciliation"], m["cost_source"]}
	}
	assert.Equal(t, []string{"0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", "pro", "30", "40", "5", "complete", "differs", "catalog"}, pick(rows[0]))
	assert.Equal(t, []string{"old", "pro", "0", "0", "0", "NULL", "NULL", "NULL"}, pick(rows[1]))
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
}

// Collectors starting together against one database migrate once.
func TestConcurrentMigrate(t *testing.T) {
	url := pgstoretest.NewDatabase(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			cfg, err := pgxpool.ParseConfig(url)
			if err != nil {
				errs <- err
				return
			}
			s, err := Open(context.Background(), cfg)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(context.Background())
		}()
	}
	for range 4 {
		require.NoError(t, <-errs)
	}
}

func TestIsPermanentOnUnavailableServer(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	require.NoError(t, err)
	_, err = Open(context.Background(), cfg)
	require.Error(t, err)
	assert.False(t, IsPermanent(err))
	assert.ErrorContains(t, err, "pgstore: connect to 127.0.0.1:1/none: ")
}

// BenchmarkInsert: one 1,000-record batch of new records per iteration.
func BenchmarkInsert(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	const batch = 1000
	recs := make([]usage.Record, batch)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range recs {
			recs[i] = pricedRecord()
			recs[i].EventID = fmt.Sprintf("%048d", n)
			recs[i].TraceID, recs[i].SpanID = recs[i].EventID[:32], recs[i].EventID[32:]
			n++
		}
		ins, _, err := s.Insert(ctx, recs)
		if err != nil || ins != batch {
			b.Fatalf("insert: %d new, %v", ins, err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
	var size int64
	if err := s.Pool().QueryRow(ctx, `SELECT pg_total_relation_size('usage_records')`).Scan(&size); err == nil {
		b.ReportMetric(float64(size)/float64(n), "disk-bytes/record")
	}
}

// TestMigrateFromVersion5 opens a ledger of the schema before the
// write-optimized one: its rows and balance state stay, the (tenant_id,
// time) index is gone, the spend buckets are there (empty: package balances
// fills them from the records on first use), and new rows go in beside.
func TestMigrateFromVersion5(t *testing.T) {
	url := pgstoretest.NewDatabase(t)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	ctx := context.Background()
	s, err := Open(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	v5 := `CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (5);`
	for _, m := range migrations[:5] {
		v5 += m + ";"
	}
	_, err = s.Pool().Exec(ctx, v5)
	require.NoError(t, err)
	_, err = s.Pool().Exec(ctx, `INSERT INTO usage_records (event_id, time, tenant_id, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable, cost_usd, seq)
		VALUES ('old', '2026-01-01T00:00:00Z', 'acme', 1, 2, 0, 0, 0, 'priced', true, 0.5, nextval('usage_records_seq'));
		UPDATE genaimeter_balance_state SET applied_seq = 1`)
	require.NoError(t, err)
	indexes := func() []string {
		rows, err := s.Pool().Query(ctx, `SELECT indexname FROM pg_indexes WHERE tablename = 'usage_records' ORDER BY indexname`)
		require.NoError(t, err)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return names
	}
	require.Equal(t, []string{"usage_records_pkey", "usage_records_seq_idx", "usage_records_tenant_time", "usage_records_time"}, indexes())
	require.NoError(t, s.Migrate(ctx))
	assert.Equal(t, []string{"usage_records_pkey", "usage_records_seq_idx", "usage_records_time_tenant"}, indexes())
	var spend, buckets, applied int64
	require.NoError(t, s.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM genaimeter_spend), (SELECT count(*) FROM genaimeter_spend_buckets),
		(SELECT applied_seq FROM genaimeter_balance_state)`).Scan(&spend, &buckets, &applied))
	assert.Equal(t, [3]int64{0, 0, 1}, [3]int64{spend, buckets, applied})
	_, _, err = s.Insert(ctx, []usage.Record{pricedRecord()})
	require.NoError(t, err)
	rows := rowsAsText(t, s)
	require.Len(t, rows, 2)
	assert.Equal(t, []string{"0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", "2"}, []string{rows[0]["event_id"], rows[0]["seq"]})
	assert.Equal(t, []string{"old", "0.5", "1"}, []string{rows[1]["event_id"], rows[1]["cost_usd"], rows[1]["seq"]})
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
}
