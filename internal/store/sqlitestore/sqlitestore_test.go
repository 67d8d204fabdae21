package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/store/sqlitestore/sqlitestoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "nested", "dir", "usage.db"))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func pricedRecord() usage.Record {
	return usage.Record{
		EventID:          "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331",
		Time:             time.Date(2026, 3, 4, 5, 6, 7, 500_000_000, time.FixedZone("CET", 3600)),
		TenantID:         "acme",
		UserID:           "u-1",
		SessionID:        "s-9",
		Feature:          "summarize",
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
		InputAudioTokens: 30, OutputAudioTokens: 40, CacheWrite1hTokens: 5,
		CostUSD:            "0.000135",
		ReportedCostUSD:    "0.00014",
		CostReconciliation: usage.ReconcileDiffers,
		CostSource:         usage.CostSourceCatalog,
		Completion:         usage.CompletionComplete,
		RevenueUSD:         "0.000162",
		PriceRef:           "embedded:genai-prices@0.1.8#openai/gpt-4o-mini",
		ServiceTier:        "flex",
		Plan:               "pro",
		TokenConvention:    "inclusive",
		PricingStatus:      usage.StatusPriced,
		PricingDetail:      "catalog 2026-03-01",
		Billable:           true,
		BillableReason:     "tenant plan",
		TraceID:            "0af7651916cd43dd8448eb211c80319c",
		SpanID:             "b7ad6b7169203331",
	}
}

// setID gives r the event id of a span named after name (its bytes in hex).
func setID(r *usage.Record, name string) {
	id := fmt.Sprintf("%048x", name)
	r.EventID, r.TraceID, r.SpanID = id, id[:32], id[32:]
}

// unpricedRecord leaves every optional field empty: they must be stored as NULL.
func unpricedRecord() usage.Record {
	return usage.Record{
		EventID:       "e2" + strings.Repeat("0", 46),
		Time:          time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		TenantID:      "acme",
		RequestModel:  "mystery-model",
		InputTokens:   7,
		PricingStatus: usage.StatusUnpriced,
	}
}

func TestOpenSetsPragmasAndCreatesDirectory(t *testing.T) {
	s := openTemp(t)
	var mode string
	require.NoError(t, s.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	assert.Equal(t, "wal", mode)
	var busy int64
	require.NoError(t, s.DB().QueryRow(`PRAGMA busy_timeout`).Scan(&busy))
	assert.Equal(t, int64(5000), busy)
	var sync int64
	require.NoError(t, s.DB().QueryRow(`PRAGMA synchronous`).Scan(&sync))
	assert.Equal(t, int64(1), sync, "synchronous=NORMAL by default")
	var temp, cache int64
	require.NoError(t, s.DB().QueryRow(`PRAGMA temp_store`).Scan(&temp))
	assert.Equal(t, int64(2), temp, "temp_store=MEMORY: statement journals stay off disk")
	require.NoError(t, s.DB().QueryRow(`PRAGMA cache_size`).Scan(&cache))
	assert.Equal(t, int64(-65536), cache, "a 64 MiB page cache")

	full, err := OpenWithOptions(filepath.Join(t.TempDir(), "full.db"), Options{Synchronous: SynchronousFull})
	require.NoError(t, err)
	defer full.Close()
	require.NoError(t, full.DB().QueryRow(`PRAGMA synchronous`).Scan(&sync))
	assert.Equal(t, int64(2), sync, "synchronous=FULL")

	_, err = OpenWithOptions(filepath.Join(t.TempDir(), "x.db"), Options{Synchronous: "off"})
	assert.EqualError(t, err, `sqlitestore: synchronous must be "normal" or "full", got "off"`)
}

// Writes go through one connection, kept from the first write to Close, while
// reads use the pool; Close returns it, and a second Close is harmless.
func TestWritesShareOneConnection(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "usage.db"))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	w := s.w
	require.NotNil(t, w, "Migrate took the writer connection")
	for i := range 3 {
		r := pricedRecord()
		r.EventID = fmt.Sprintf("%048d", i)
		r.TraceID, r.SpanID = r.EventID[:32], r.EventID[32:]
		ins, dups, err := s.Insert(ctx, []usage.Record{r})
		require.NoError(t, err)
		assert.Equal(t, [2]int{1, 0}, [2]int{ins, dups})
		assert.Same(t, w, s.w, "insert %d used the writer connection", i)
	}
	var n int
	require.NoError(t, s.DB().QueryRow(`SELECT count(*) FROM usage_records`).Scan(&n))
	assert.Equal(t, 3, n)
	require.NoError(t, s.Close())
	assert.Nil(t, s.w)
	require.NoError(t, s.Close())
}

// A write whose context has already ended does not begin, and the next
// write works.
func TestWriteRefusedOnEndedContext(t *testing.T) {
	s := openTemp(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := s.Insert(cancelled, []usage.Record{pricedRecord()})
	require.ErrorIs(t, err, context.Canceled)
	ins, _, err := s.Insert(context.Background(), []usage.Record{pricedRecord()})
	require.NoError(t, err)
	assert.Equal(t, 1, ins)
}

// A write whose context ends inside its transaction is rolled back before the
// next write begins. database/sql rolls a cancelled transaction back from its
// own goroutine; when the transaction was begun with the caller's context the
// next BEGIN on the writer connection raced that ROLLBACK and failed with
// "cannot start a transaction within a transaction" (seen in CI when the
// alerts receiver shut down mid-write). Repeated because it is a race.
func TestWriteAfterCancelledTransaction(t *testing.T) {
	s := openTemp(t)
	for i := range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		err := s.WriteTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS scratch (n INTEGER)`); err != nil {
				return err
			}
			// Cancelled while a slow statement runs, as a shutdown does.
			time.AfterFunc(time.Duration(i%5)*100*time.Microsecond, cancel)
			_, err := tx.ExecContext(ctx, `INSERT INTO scratch
				WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 200000) SELECT n FROM c`)
			return err
		})
		cancel()
		_ = err // the statement may or may not finish first; either is fine
		r := pricedRecord()
		r.EventID = fmt.Sprintf("%048d", i)
		r.TraceID, r.SpanID = r.EventID[:32], r.EventID[32:]
		ins, _, err := s.Insert(context.Background(), []usage.Record{r})
		require.NoError(t, err, "write %d", i)
		require.Equal(t, 1, ins)
	}
}

// A batch spanning several multi-row statements (two full ones and a tail),
// with replays in the first and last statement and a repeat across
// statements, stores each event once and counts the rest as duplicates.
func TestInsertAcrossStatements(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	mk := func(n int) usage.Record {
		r := pricedRecord()
		r.EventID = fmt.Sprintf("%048d", n)
		r.TraceID, r.SpanID = r.EventID[:32], r.EventID[32:]
		r.InputTokens = 1000 + int64(n) // >= the cache tokens of pricedRecord
		return r
	}
	ins, dup, err := s.Insert(ctx, []usage.Record{mk(0), mk(299)})
	require.NoError(t, err)
	require.Equal(t, [2]int{2, 0}, [2]int{ins, dup})

	var recs []usage.Record
	for n := range 300 {
		recs = append(recs, mk(n))
	}
	recs = append(recs, mk(5)) // a repeat of a record of the first statement, in the tail
	require.Len(t, recs, 2*RowsPerStatement+45)
	ins, dup, err = s.Insert(ctx, recs)
	require.NoError(t, err)
	assert.Equal(t, [2]int{298, 3}, [2]int{ins, dup})

	var count, sum int64
	require.NoError(t, s.DB().QueryRow(`SELECT count(*), sum(input_tokens) FROM usage_records`).Scan(&count, &sum))
	assert.Equal(t, [2]int64{300, 300*1000 + 299*300/2}, [2]int64{count, sum})
}

func TestOpenRejectsNonFilePaths(t *testing.T) {
	for path, want := range map[string]string{
		"":             "sqlitestore: path must not be empty",
		":memory:":     `sqlitestore: path must be a file path, got ":memory:"`,
		"file:x.db":    `sqlitestore: path must be a file path, got "file:x.db"`,
		"usage.db?x=1": `sqlitestore: path must not contain '?', got "usage.db?x=1"`,
	} {
		_, err := Open(path)
		assert.EqualError(t, err, want, path)
	}
}

func TestMigrateCreatesSchemaOnceAndRunsForward(t *testing.T) {
	assert.Len(t, migrations, SchemaVersion)
	s := openTemp(t)
	// A second Migrate (every collector restart) must be a no-op.
	require.NoError(t, s.Migrate(context.Background()))

	assert.Equal(t, []sqlitestoretest.Row{{"version": int64(SchemaVersion)}},
		sqlitestoretest.Query(t, s.DB(), `SELECT version FROM schema_version`))
	assert.Equal(t, []sqlitestoretest.Row{
		{"name": "schema_version", "type": "table"},
		{"name": "usage_records", "type": "table"},
		{"name": "usage_records_time_tenant", "type": "index"},
	}, sqlitestoretest.Query(t, s.DB(), `SELECT name, type FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE 'genaimeter_%' ORDER BY name`))
	assert.Equal(t, []sqlitestoretest.Row{
		{"name": "time"}, {"name": "tenant_id"},
	}, sqlitestoretest.Query(t, s.DB(), `SELECT name FROM pragma_index_info('usage_records_time_tenant') ORDER BY seqno`))
}

// TestMigrateFromVersion6 opens a ledger of the schema before the
// write-optimized one: its rows and rollups stay, the (tenant_id, time)
// index is gone, the spend buckets are there (empty: package balances fills
// them from the records on first use), and new rows go in beside the old.
func TestMigrateFromVersion6(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v6.db")
	s, err := Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	v6 := `CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (6);`
	for _, m := range migrations[:6] {
		v6 += m + ";"
	}
	_, err = s.DB().ExecContext(ctx, v6)
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `INSERT INTO usage_records (event_id, time, tenant_id, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable, cost_usd)
		VALUES ('old', '2026-01-01T00:00:00.000000000Z', 'acme', 1, 2, 0, 0, 0, 'priced', 1, '0.5');
		UPDATE genaimeter_balance_state SET applied_seq = 1`)
	require.NoError(t, err)
	require.Equal(t, []sqlitestoretest.Row{{"name": "usage_records_tenant_time"}, {"name": "usage_records_time"}},
		sqlitestoretest.Query(t, s.DB(), `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'usage_records' AND name NOT LIKE 'sqlite_%' ORDER BY name`))
	require.NoError(t, s.Migrate(ctx))
	assert.Equal(t, []sqlitestoretest.Row{{"name": "usage_records_time_tenant"}},
		sqlitestoretest.Query(t, s.DB(), `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'usage_records' AND name NOT LIKE 'sqlite_%' ORDER BY name`))
	assert.Equal(t, []sqlitestoretest.Row{{"n": int64(0)}}, sqlitestoretest.Query(t, s.DB(), `SELECT count(*) AS n FROM genaimeter_spend`))
	assert.Equal(t, []sqlitestoretest.Row{{"n": int64(0)}}, sqlitestoretest.Query(t, s.DB(), `SELECT count(*) AS n FROM genaimeter_spend_buckets`))
	assert.Equal(t, []sqlitestoretest.Row{{"applied_seq": int64(1)}}, sqlitestoretest.Query(t, s.DB(), `SELECT applied_seq FROM genaimeter_balance_state`))
	_, _, err = s.Insert(ctx, []usage.Record{pricedRecord()})
	require.NoError(t, err)
	assert.Equal(t, []sqlitestoretest.Row{
		{"event_id": "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", "cost_usd": "0.000135"},
		{"event_id": "old", "cost_usd": "0.5"},
	}, sqlitestoretest.Query(t, s.DB(), `SELECT event_id, cost_usd FROM usage_records ORDER BY event_id`))
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
	require.NoError(t, s.Close())
}

// TestDecimalAdd: the rollups' SQL addition is exact decimal text, and a
// value that is no decimal fails the statement rather than counting as 0.
func TestDecimalAdd(t *testing.T) {
	s := openTemp(t)
	assert.Equal(t, []sqlitestoretest.Row{{"s": "0.3", "big": "100000000000000000000.000000000000000001", "z": "0"}},
		sqlitestoretest.Query(t, s.DB(), `SELECT genaimeter_decimal_add('0.1', '0.2') AS s,
			genaimeter_decimal_add('99999999999999999999.000000000000000001', '1') AS big, genaimeter_decimal_add('0.50', '-0.5') AS z`))
	_, err := s.DB().Exec(`SELECT genaimeter_decimal_add('0.1', 'ten')`)
	assert.ErrorContains(t, err, `genaimeter_decimal_add: invalid decimal "ten"`)
	_, err = s.DB().Exec(`SELECT genaimeter_decimal_add('0.1', 2)`)
	assert.ErrorContains(t, err, `genaimeter_decimal_add: argument 2: want decimal text, got int64`)
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	s := openTemp(t)
	_, err := s.DB().Exec(`UPDATE schema_version SET version = ?`, SchemaVersion+1)
	require.NoError(t, err)
	err = s.Migrate(context.Background())
	assert.EqualError(t, err, fmt.Sprintf("sqlitestore: database %q has schema version %d, this binary knows up to %d", s.Path(), SchemaVersion+1, SchemaVersion))
}

// TestMigrateFromVersion1 opens a ledger written by a version-1 binary: its
// rows stay, and the version-2 columns are added empty.
func TestMigrateFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	s, err := Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = s.DB().ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);`+migrations[0])
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `INSERT INTO usage_records (event_id, time, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable)
		VALUES ('old', '2026-01-01T00:00:00.000000000Z', 1, 2, 0, 0, 0, 'priced', 1)`)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	assert.Equal(t, []sqlitestoretest.Row{{"event_id": "old", "plan": nil, "revenue_usd": nil, "price_ref": nil, "service_tier": nil}},
		sqlitestoretest.Query(t, s.DB(), `SELECT event_id, plan, revenue_usd, price_ref, service_tier FROM usage_records`))
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
	require.NoError(t, s.Close())
}

// TestMigrateFromVersion2 opens a ledger written by a version-2 binary (the
// schema before audio, 1h cache writes, completion and cost reconciliation):
// its rows stay, with 0 audio and 1h tokens (what their price assumed) and
// the new text columns NULL, and new rows go in beside them.
func TestMigrateFromVersion2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	s, err := Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = s.DB().ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (2);`+migrations[0]+migrations[1])
	require.NoError(t, err)
	_, err = s.DB().ExecContext(ctx, `INSERT INTO usage_records (event_id, time, input_tokens, output_tokens,
		cache_read_tokens, cache_write_tokens, reasoning_tokens, pricing_status, billable, plan)
		VALUES ('old', '2026-01-01T00:00:00.000000000Z', 1, 2, 0, 0, 0, 'priced', 1, 'pro')`)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	_, _, err = s.Insert(ctx, []usage.Record{pricedRecord()})
	require.NoError(t, err)
	assert.Equal(t, []sqlitestoretest.Row{
		{"event_id": "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", "plan": "pro", "input_audio_tokens": int64(30),
			"output_audio_tokens": int64(40), "cache_write_1h_tokens": int64(5), "completion": "complete",
			"cost_reconciliation": "differs", "cost_source": "catalog"},
		{"event_id": "old", "plan": "pro", "input_audio_tokens": int64(0), "output_audio_tokens": int64(0),
			"cache_write_1h_tokens": int64(0), "completion": nil, "cost_reconciliation": nil, "cost_source": nil},
	}, sqlitestoretest.Query(t, s.DB(), `SELECT event_id, plan, input_audio_tokens, output_audio_tokens,
		cache_write_1h_tokens, completion, cost_reconciliation, cost_source FROM usage_records ORDER BY event_id`))
	v, err := s.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)
	require.NoError(t, s.Close())
}

func TestInsertStoresExactRows(t *testing.T) {
	s := openTemp(t)
	ins, dup, err := s.Insert(context.Background(), []usage.Record{pricedRecord(), unpricedRecord()})
	require.NoError(t, err)
	assert.Equal(t, [2]int{2, 0}, [2]int{ins, dup})

	assert.Equal(t, []sqlitestoretest.Row{
		{
			"event_id": "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331",
			// 05:06:07.5 CET is 04:06:07.5 UTC, fixed nine-digit fraction.
			"time":      "2026-03-04T04:06:07.500000000Z",
			"tenant_id": "acme", "user_id": "u-1", "session_id": "s-9", "feature": "summarize",
			"service_name": "chat", "environment": "prod",
			"provider": "openai", "operation": "chat",
			"request_model": "gpt-4o-mini", "response_model": "gpt-4o-mini-2024-07-18",
			"catalog_provider": "openai", "catalog_model": "gpt-4o-mini",
			"input_tokens": int64(500), "output_tokens": int64(100), "cache_read_tokens": int64(200),
			"cache_write_tokens": int64(10), "reasoning_tokens": int64(20),
			"cost_usd": "0.000135", "reported_cost_usd": "0.00014", "token_convention": "inclusive", "credits": nil,
			"pricing_status": "priced", "pricing_detail": "catalog 2026-03-01",
			"billable": int64(1), "billable_reason": "tenant plan",
			"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
			"plan": "pro", "revenue_usd": "0.000162", "price_ref": "embedded:genai-prices@0.1.8#openai/gpt-4o-mini",
			"service_tier":       "flex",
			"input_audio_tokens": int64(30), "output_audio_tokens": int64(40), "cache_write_1h_tokens": int64(5),
			"completion": "complete", "cost_reconciliation": "differs", "cost_source": "catalog",
		},
		{
			"event_id": "e2" + strings.Repeat("0", 46), "time": "2026-03-04T05:06:07.000000000Z",
			"tenant_id": "acme", "user_id": nil, "session_id": nil, "feature": nil,
			"service_name": nil, "environment": nil,
			"provider": nil, "operation": nil,
			"request_model": "mystery-model", "response_model": nil,
			"catalog_provider": nil, "catalog_model": nil,
			"input_tokens": int64(7), "output_tokens": int64(0), "cache_read_tokens": int64(0),
			"cache_write_tokens": int64(0), "reasoning_tokens": int64(0),
			"cost_usd": nil, "reported_cost_usd": nil, "token_convention": nil, "credits": nil,
			"pricing_status": "unpriced", "pricing_detail": nil,
			"billable": int64(0), "billable_reason": nil,
			"trace_id": nil, "span_id": nil,
			"plan": nil, "revenue_usd": nil, "price_ref": nil, "service_tier": nil,
			"input_audio_tokens": int64(0), "output_audio_tokens": int64(0), "cache_write_1h_tokens": int64(0),
			"completion": nil, "cost_reconciliation": nil, "cost_source": nil,
		},
	}, sqlitestoretest.Rows(t, s.Path()))
}

func TestInsertIsIdempotent(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	first := pricedRecord()
	ins, dup, err := s.Insert(ctx, []usage.Record{first})
	require.NoError(t, err)
	assert.Equal(t, [2]int{1, 0}, [2]int{ins, dup})

	// A replay (same event id) adds nothing, even if a field changed: the first
	// stored version of an event wins.
	replay := first
	replay.CostUSD = "99"
	ins, dup, err = s.Insert(ctx, []usage.Record{replay, unpricedRecord(), unpricedRecord()})
	require.NoError(t, err)
	assert.Equal(t, [2]int{1, 2}, [2]int{ins, dup}, "replayed event and in-batch repeat are duplicates")

	rows := sqlitestoretest.Rows(t, s.Path())
	require.Len(t, rows, 2)
	assert.Equal(t, "0.000135", rows[0]["cost_usd"])
}

func TestInsertRejectsInvalidRecordWithoutWriting(t *testing.T) {
	s := openTemp(t)
	bad := unpricedRecord()
	bad.CostUSD = "1e"
	_, _, err := s.Insert(context.Background(), []usage.Record{pricedRecord(), bad})
	require.ErrorIs(t, err, usage.ErrInvalidRecord)
	assert.EqualError(t, err, `sqlitestore: record 1 (event_id "e20000000000000000000000000000000000000000000000"): invalid usage record: cost_usd: cost "1e" on a call with status "unpriced"`+"\n"+
		`cost_usd: want a non-negative decimal in plain notation, got "1e"`)
	assert.Empty(t, sqlitestoretest.Rows(t, s.Path()))
}

func TestIsTransient(t *testing.T) {
	s := openTemp(t)
	// Hold the write lock in one connection (BEGIN IMMEDIATE through _txlock)…
	tx, err := s.DB().BeginTx(context.Background(), nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	// …and try to take it from another handle that does not wait.
	other, err := sql.Open(DriverName, s.Path()+"?_txlock=immediate&_pragma=busy_timeout(0)")
	require.NoError(t, err)
	defer other.Close()
	_, err = other.Begin()
	require.Error(t, err)
	assert.True(t, IsTransient(err), "busy: %v", err)
	assert.True(t, IsTransient(fmt.Errorf("wrapped: %w", err)))
	assert.False(t, IsTransient(errors.New("database is locked")), "only real SQLite codes count")
	assert.False(t, IsTransient(sql.ErrConnDone))
}

func TestSummarySumsCostExactly(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []usage.Record
	// 1,000 calls at $0.000135 plus 1,000 at $0.1: in float64 these sums drift
	// (0.1 has no exact binary form); as decimals they are exact.
	for i := range 1000 {
		r := pricedRecord()
		setID(&r, fmt.Sprintf("a%04d", i))
		r.Time = base.Add(time.Duration(i) * time.Second)
		recs = append(recs, r)
		r2 := pricedRecord()
		setID(&r2, fmt.Sprintf("b%04d", i))
		r2.Time = base.Add(time.Duration(i) * time.Second)
		r2.CatalogModel = "gpt-4o"
		r2.CostUSD = "0.1"
		recs = append(recs, r2)
	}
	un := unpricedRecord()
	un.Time = base
	un.Completion = usage.CompletionStopped
	recs = append(recs, un)
	other := unpricedRecord()
	setID(&other, "o1")
	other.TenantID = "globex"
	other.Time = base
	other.CatalogModel = "claude-x"
	other.CostUSD = "1.5"
	other.PricingStatus = usage.StatusPriced
	recs = append(recs, other)
	_, _, err := s.Insert(ctx, recs)
	require.NoError(t, err)

	got, err := s.Summary(ctx, SummaryFilter{})
	require.NoError(t, err)
	assert.Equal(t, []SummaryRow{
		{TenantID: "acme", Model: "gpt-4o", Calls: 1000, InputTokens: 500_000, OutputTokens: 100_000,
			CacheReadTokens: 200_000, CacheWriteTokens: 10_000, ReasoningTokens: 20_000,
			InputAudioTokens: 30_000, OutputAudioTokens: 40_000, CacheWrite1hTokens: 5_000, CostUSD: "100.0"},
		{TenantID: "acme", Model: "gpt-4o-mini", Calls: 1000, InputTokens: 500_000, OutputTokens: 100_000,
			CacheReadTokens: 200_000, CacheWriteTokens: 10_000, ReasoningTokens: 20_000,
			InputAudioTokens: 30_000, OutputAudioTokens: 40_000, CacheWrite1hTokens: 5_000, CostUSD: "0.135000"},
		// No catalog model: falls back to the request model; nothing priced;
		// it was stopped before its end.
		{TenantID: "acme", Model: "mystery-model", Calls: 1, InputTokens: 7, CostUSD: "0", UnpricedCalls: 1, StoppedCalls: 1},
		{TenantID: "globex", Model: "claude-x", Calls: 1, InputTokens: 7, CostUSD: "1.5"},
	}, got)
}

func TestSummaryFilterIsHalfOpen(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var recs []usage.Record
	// Times with and without a fraction, to check that text order is time order.
	for i, d := range []time.Duration{0, 500 * time.Millisecond, time.Second, time.Second + time.Nanosecond, 2 * time.Second} {
		r := pricedRecord()
		setID(&r, fmt.Sprintf("t%d", i))
		r.Time = base.Add(d)
		r.CostUSD = fmt.Sprintf("0.00%d", i+1)
		recs = append(recs, r)
	}
	_, _, err := s.Insert(ctx, recs)
	require.NoError(t, err)

	got, err := s.Summary(ctx, SummaryFilter{Since: base.Add(500 * time.Millisecond), Until: base.Add(2 * time.Second)})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, int64(3), got[0].Calls)
	assert.Equal(t, "0.009", got[0].CostUSD, "t1+t2+t3 = 0.002+0.003+0.004")

	got, err = s.Summary(ctx, SummaryFilter{Since: base.Add(time.Hour)})
	require.NoError(t, err)
	assert.Empty(t, got)
}

func TestVersion(t *testing.T) {
	s := openTemp(t)
	v, err := s.Version(context.Background())
	require.NoError(t, err)
	assert.Equal(t, SchemaVersion, v)

	empty, err := Open(filepath.Join(t.TempDir(), "empty.db"))
	require.NoError(t, err)
	defer empty.Close()
	_, err = empty.Version(context.Background())
	assert.EqualError(t, err, fmt.Sprintf("sqlitestore: %q is not a usage ledger: SQL logic error: no such table: schema_version (1)", empty.Path()))
}

// TestSummarySumIsExactAtScale: the summary adds stored costs with
// money.Add; next to 1e16 a float64 sum drops ten 0.1 amounts (checked
// first, so a float sum cannot pass).
func TestSummarySumIsExactAtScale(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	costs := []string{"10000000000000000"}
	for range 10 {
		costs = append(costs, "0.1")
	}
	const want = "10000000000000001.0"
	var float float64
	var recs []usage.Record
	for i, c := range costs {
		f, err := strconv.ParseFloat(c, 64)
		require.NoError(t, err)
		float += f
		r := pricedRecord()
		setID(&r, fmt.Sprintf("s%04d", i))
		r.Time = base.Add(time.Duration(i) * time.Second)
		r.CostUSD = c
		recs = append(recs, r)
	}
	require.NotEqual(t, "10000000000000001", strconv.FormatFloat(float, 'f', -1, 64), "the values must defeat a float sum")
	_, _, err := s.Insert(ctx, recs)
	require.NoError(t, err)
	got, err := s.Summary(ctx, SummaryFilter{})
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, want, got[0].CostUSD)
}
