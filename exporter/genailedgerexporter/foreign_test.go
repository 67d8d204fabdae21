package genailedgerexporter

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore/sqlitestoretest"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// foreignRecords are log records that look like usage records but that
// genaimeter never writes (issue 11 item 9): each is refused with its reason.
var foreignRecords = []struct {
	name   string
	mutate func(r *usage.Record)
	reason string
}{
	{"status free", func(r *usage.Record) { r.PricingStatus = "free"; r.CostUSD = "" },
		`pricing_status: must be one of priced, unpriced, no_usage, invalid_usage, got "free"`},
	{"event id xyz", func(r *usage.Record) { r.EventID = "xyz" },
		`event_id: want 48 lowercase hex digits (trace id + span id), got "xyz"`},
	{"cache read above input", func(r *usage.Record) { r.CacheReadTokens = 1_000_000 },
		"cache_read_tokens: cache read 1000000 + cache write 10 above input_tokens 500 (input includes the cache tokens)"},
	{"negative revenue", func(r *usage.Record) { r.RevenueUSD = "-5" },
		`revenue_usd: want a non-negative decimal in plain notation, got "-5"`},
	{"reported cost NaN", func(r *usage.Record) { r.ReportedCostUSD = "NaN" },
		`reported_cost_usd: want a non-negative decimal in plain notation, got "NaN"`},
}

func foreignLogs() plog.Logs {
	items := []func(plog.LogRecord){usageLog(1)}
	for i, f := range foreignRecords {
		items = append(items, func(lr plog.LogRecord) {
			r := record(10 + i)
			f.mutate(&r)
			r.ToLogRecord(lr)
		})
	}
	return logsOf(append(items, usageLog(2))...)
}

// TestForeignUsageRecordsAreDeadLettered: for every sink, a log record that is
// not a usage record genaimeter could have written is neither stored nor
// streamed; it is dead-lettered with the reason and counted, and the good
// records of its batch are stored. (On the code before usage.ValidateRecord,
// all of them were stored.)
func TestForeignUsageRecordsAreDeadLettered(t *testing.T) {
	for _, sink := range []string{sinkSQLite, sinkFile} {
		t.Run(sink, func(t *testing.T) {
			dir := t.TempDir()
			cfg := createDefaultConfig().(*Config)
			cfg.SQLite.Path = filepath.Join(dir, "usage.db")
			if sink == sinkFile {
				cfg.SQLite.Path = ""
				cfg.File = configoptional.Some(FileConfig{Path: filepath.Join(dir, "usage.jsonl")})
			}
			dl := filepath.Join(dir, "dead.jsonl")
			cfg.DeadLetter = configoptional.Some(DeadLetterConfig{Path: dl})
			require.NoError(t, cfg.Validate())
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			e := startExporter(t, tel, cfg, "foreign")
			require.NoError(t, e.pushLogs(context.Background(), foreignLogs()))

			want := []string{record(1).EventID, record(2).EventID}
			var stored []string
			if sink == sinkFile {
				for _, line := range strings.Split(strings.TrimSpace(readFile(t, cfg.File.Get().Path)), "\n") {
					var r struct {
						EventID string `json:"event_id"`
					}
					require.NoError(t, json.Unmarshal([]byte(line), &r))
					stored = append(stored, r.EventID)
				}
			} else {
				for _, row := range sqlitestoretest.Rows(t, cfg.SQLite.Path) {
					stored = append(stored, row["event_id"].(string))
				}
			}
			assert.Equal(t, want, stored)

			lines := strings.Split(strings.TrimSpace(readFile(t, dl)), "\n")
			require.Len(t, lines, len(foreignRecords))
			for i, f := range foreignRecords {
				var d struct {
					Reason, Error string
				}
				require.NoError(t, json.Unmarshal([]byte(lines[i]), &d))
				assert.Equal(t, reasonMalformed, d.Reason, f.name)
				assert.Equal(t, "invalid usage record: "+f.reason, d.Error, f.name)
			}
			n := int64(len(foreignRecords))
			metadatatest.AssertEqualExporterGenaiLedgerRecordsRejected(t, tel, []metricdata.DataPoint[int64]{
				sumPoint(n, attribute.String("reason", reasonMalformed))}, ignore()...)
			metadatatest.AssertEqualExporterGenaiLedgerRecordsDeadLettered(t, tel, []metricdata.DataPoint[int64]{
				sumPoint(n, attribute.String("reason", reasonMalformed))}, ignore()...)
		})
	}
}
