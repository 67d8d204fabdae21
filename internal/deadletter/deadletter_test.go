package deadletter

import (
	"math"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/plog"
)

func TestAppendCreatesDirectoryAndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "dead.jsonl")
	f, err := Open(path)
	require.NoError(t, err)
	require.NoError(t, f.Append([]byte("{\"a\":1}\n")))
	require.NoError(t, f.Append(nil))
	require.NoError(t, f.Close())
	require.NoError(t, f.Close())
	// A closed file reopens and appends after what is there.
	require.NoError(t, f.Append([]byte("{\"b\":2}\n")))
	require.NoError(t, f.Close())
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "{\"a\":1}\n{\"b\":2}\n", string(got))
	var nilFile *File
	assert.NoError(t, nilFile.Close())
}

func TestConcurrentAppendsKeepLinesWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	f, err := Open(path)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				assert.NoError(t, f.Append([]byte("0123456789\n")))
			}
		}()
	}
	wg.Wait()
	require.NoError(t, f.Close())
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, got, 8*50*11)
	for i := 0; i < len(got); i += 11 {
		assert.Equal(t, "0123456789\n", string(got[i:i+11]))
	}
}

func TestOpenFailsWithThePath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o600))
	_, err := Open(filepath.Join(blocker, "dead.jsonl"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `dead_letter: create directory of "`+filepath.Join(blocker, "dead.jsonl")+`"`)
}

// TestFileIsPrivate: the dead-letter file holds refused usage records,
// customer data: created 0600 under the usual umask 022 (was 0640; issue 11,
// item 5).
func TestFileIsPrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "dead.jsonl")
	f, err := Open(path)
	require.NoError(t, err)
	require.NoError(t, f.Append([]byte("{}\n")))
	require.NoError(t, f.Close())
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}

// TestLine: an entry is one JSON line with its time in UTC and only the
// parts it has; a log record JSON cannot carry (a NaN attribute) is left
// out and the error says so, so that the line is still written.
func TestLine(t *testing.T) {
	when := time.Date(2026, 3, 5, 1, 2, 3, 4, time.FixedZone("CET", 3600))
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.Body().SetStr("hello")
	e := Entry{Time: when, Exporter: "genai_ledger/x", Reason: "not_usage_record", Error: "not a usage record",
		LogRecord: LogRecordOf(rl.Resource(), lr)}
	assert.Equal(t, `{"time":"2026-03-05T00:02:03.000000004Z","exporter":"genai_ledger/x","reason":"not_usage_record",`+
		`"error":"not a usage record","log_record":{"body":"hello"}}`+"\n", string(Line(&e)))

	lr.Attributes().PutDouble("ratio", math.NaN())
	e.LogRecord = LogRecordOf(rl.Resource(), lr)
	e.EventIDs = []string{"ev1"}
	assert.Equal(t, `{"time":"2026-03-05T00:02:03.000000004Z","exporter":"genai_ledger/x","reason":"not_usage_record",`+
		`"error":"not a usage record (log record not encodable: json: unsupported value: NaN)","event_ids":["ev1"]}`+"\n", string(Line(&e)))

	ev := Entry{Time: when, Exporter: "genai_billing/x", Reason: "rejected", Error: "HTTP 400", EventIDs: []string{"ev1"},
		Event: &Event{Backend: "lago", Key: "ev1:tokens", Meter: "tokens", Customer: "cus_1", Value: "0.000135", Status: 400, Response: "{}"}}
	assert.Equal(t, `{"time":"2026-03-05T00:02:03.000000004Z","exporter":"genai_billing/x","reason":"rejected","error":"HTTP 400",`+
		`"event_ids":["ev1"],"event":{"backend":"lago","idempotency_key":"ev1:tokens","meter":"tokens","customer":"cus_1",`+
		`"value":"0.000135","status":400,"response":"{}"}}`+"\n", string(Line(&ev)))
}
