package genaibillingexporter

import (
	"context"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// storageHost hands the exporter its extensions.
type storageHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h storageHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// TestAggregatedReplayIsNotBilledAgain (issue 11 item 1): webhook backend,
// aggregation.window 1m, a file_storage sending queue and file_storage as
// aggregation.storage (the real contrib extension, on disk). Three calls of
// one tenant in one request make one window event of 3,000 tokens. The
// collector stops (shutdown), starts again on the same directory, and one of
// the same calls comes again (a client retry): no second event. Before, the
// backend received a second window, 1,000 tokens under another key.
func TestAggregatedReplayIsNotBilledAgain(t *testing.T) {
	srv := newContractServer(t, backendWebhook)
	cfg := stormConfig(t, backendWebhook, srv, time.Minute)
	cfg.Meters = []MeterConfig{{Name: "genai_tokens", Value: valueInputTokens}}
	storageID := component.MustNewID("file_storage")
	cfg.Aggregation.Storage = &storageID
	q := exporterhelper.NewDefaultQueueConfig()
	q.StorageID = &storageID
	b := exporterhelper.NewDefaultBatchConfig()
	b.FlushTimeout = 50 * time.Millisecond
	q.Batch = configoptional.Some(b)
	cfg.QueueConfig = configoptional.Some(q)
	require.NoError(t, cfg.Validate())

	dir := t.TempDir()
	recs := stormRecords(15)
	calls := []usage.Record{recs[0], recs[7], recs[14]} // t1
	for i := range calls {
		calls[i].InputTokens = 1000
		calls[i].Time = recs[0].Time.Add(time.Duration(i) * time.Second) // one minute
	}

	run := func(batch []usage.Record) {
		ctx := context.Background()
		fcfg := filestorage.NewFactory().CreateDefaultConfig().(*filestorage.Config)
		fcfg.Directory = dir
		ext, err := filestorage.NewFactory().Create(ctx, extensiontest.NewNopSettings(filestorage.NewFactory().Type()), fcfg)
		require.NoError(t, err)
		host := storageHost{exts: map[component.ID]component.Component{storageID: ext}}
		require.NoError(t, ext.Start(ctx, host))
		set := exportertest.NewNopSettings(NewFactory().Type())
		set.ID = component.NewIDWithName(NewFactory().Type(), "stripe") // as in a config: the same after the restart
		exp, err := NewFactory().CreateLogs(ctx, set, cfg)
		require.NoError(t, err)
		require.NoError(t, exp.Start(ctx, host))
		require.NoError(t, exp.ConsumeLogs(ctx, toLogs(batch)))
		time.Sleep(300 * time.Millisecond) // the batch flushes (50ms) and is sent
		// SIGTERM: the collector shuts the exporter (draining its queue), then
		// the extension.
		require.NoError(t, exp.Shutdown(ctx))
		require.NoError(t, ext.Shutdown(ctx))
	}
	run(calls)
	run([]usage.Record{calls[1]}) // the client retries one call after the restart

	srv.mu.Lock()
	defer srv.mu.Unlock()
	var got []string
	for _, ev := range srv.events {
		got = append(got, ev.customer+" "+ev.meter+" "+ev.value)
	}
	assert.Equal(t, []string{"cus_1 genai_tokens 3000"}, got)
	assert.Equal(t, 0, srv.duplicates, "the replay is not even sent")
}
