// Package deadletterformat_test checks that the two exporters that
// dead-letter write one line format, package deadletter's.
package deadletterformat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/genaimeter/genaimeter/exporter/genaibillingexporter"
	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter"
	"github.com/genaimeter/genaimeter/internal/deadletter"
)

// foreignLogs is a log record that is not a usage record, the same for both
// exporters: each refuses it and dead-letters it as received.
func foreignLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "chat")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.Timestamp(1772600000000000000))
	lr.SetTraceID(pcommon.TraceID{1, 2, 3})
	lr.SetSpanID(pcommon.SpanID{4, 5, 6})
	lr.SetEventName("app.log")
	lr.Body().SetStr("hello")
	lr.Attributes().PutStr("genaimeter.tenant_id", "acme")
	lr.Attributes().PutInt("genaimeter.input_tokens", 5)
	return ld
}

// deadLetterOf sends foreignLogs through a started exporter (no queue: the
// export is synchronous) and returns the dead-letter file's one line.
func deadLetterOf(t *testing.T, f exporter.Factory, cfg component.Config, path string) []byte {
	t.Helper()
	set := exportertest.NewNopSettings(f.Type())
	set.ID = component.NewIDWithName(f.Type(), "main")
	exp, err := f.CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	// genai_ledger reports a batch it refused whole as a permanent error,
	// genai_billing does not; both dead-letter the record.
	if err := exp.ConsumeLogs(context.Background(), foreignLogs()); err != nil {
		require.True(t, consumererror.IsPermanent(err), "%v", err)
	}
	require.NoError(t, exp.Shutdown(context.Background()))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := bytes.SplitAfter(b, []byte("\n"))
	require.Len(t, lines, 2, "one line and nothing after it: %s", b)
	return lines[0]
}

// TestBothExportersWriteOneFormat: genai_ledger and genai_billing refuse the
// same foreign log record; their dead-letter lines are package deadletter's
// format (strict decode, byte-identical re-encoding) and differ only in the
// time of refusal and the exporter's id.
func TestBothExportersWriteOneFormat(t *testing.T) {
	dir := t.TempDir()

	lf := genailedgerexporter.NewFactory()
	lcfg := lf.CreateDefaultConfig().(*genailedgerexporter.Config)
	lcfg.SQLite.Path = filepath.Join(dir, "usage.db")
	lcfg.DeadLetter = configoptional.Some(genailedgerexporter.DeadLetterConfig{Path: filepath.Join(dir, "ledger.dead.jsonl")})
	lcfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	require.NoError(t, lcfg.Validate())
	ledgerLine := deadLetterOf(t, lf, lcfg, lcfg.DeadLetter.Get().Path)

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	defer srv.Close()
	bf := genaibillingexporter.NewFactory()
	bcfg := bf.CreateDefaultConfig().(*genaibillingexporter.Config)
	bcfg.Backend = "webhook"
	bcfg.ClientConfig.Endpoint = srv.URL
	bcfg.Webhook.Secret = "whsec_test"
	bcfg.Customers.File = filepath.Join(dir, "customers.yaml")
	require.NoError(t, os.WriteFile(bcfg.Customers.File, []byte("acme: cus_1\n"), 0o600))
	bcfg.Meters = []genaibillingexporter.MeterConfig{{Name: "genai_tokens", Value: "total_tokens"}}
	bcfg.DeadLetter.Path = filepath.Join(dir, "billing.dead.jsonl")
	bcfg.QueueConfig = configoptional.None[exporterhelper.QueueBatchConfig]()
	require.NoError(t, bcfg.Validate())
	billingLine := deadLetterOf(t, bf, bcfg, bcfg.DeadLetter.Path)

	generic := func(line []byte, exporterID string) map[string]any {
		var e deadletter.Entry
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&e), "%s", line)
		assert.Equal(t, string(line), string(deadletter.Line(&e)), "package deadletter's encoding, byte for byte")
		assert.Equal(t, exporterID, e.Exporter)
		assert.False(t, e.Time.IsZero())
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m))
		delete(m, "time")
		delete(m, "exporter")
		return m
	}
	want := map[string]any{
		"reason": "not_usage_record",
		"error":  "not a genaimeter usage record: missing genaimeter.event_id",
		"log_record": map[string]any{
			"timestamp": "2026-03-04T04:53:20Z", "event_name": "app.log",
			"trace_id": "01020300000000000000000000000000", "span_id": "0405060000000000",
			"body":       "hello",
			"attributes": map[string]any{"genaimeter.tenant_id": "acme", "genaimeter.input_tokens": float64(5)},
			"resource":   map[string]any{"service.name": "chat"},
		},
	}
	assert.Equal(t, want, generic(ledgerLine, "genai_ledger/main"))
	assert.Equal(t, want, generic(billingLine, "genai_billing/main"))
}
