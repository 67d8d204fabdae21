package genaicostprocessor

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensiontest"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/processor"

	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadata"
	"github.com/genaimeter/genaimeter/processor/genaicostprocessor/internal/metadatatest"
)

// startFileStorage starts a real file_storage extension (bbolt files in dir).
func startFileStorage(t *testing.T, dir string, recreate bool) extension.Extension {
	t.Helper()
	f := filestorage.NewFactory()
	cfg := f.CreateDefaultConfig().(*filestorage.Config)
	cfg.Directory = dir
	cfg.Recreate = recreate
	ext, err := f.Create(context.Background(), extensiontest.NewNopSettings(f.Type()), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	return ext
}

// heldProcessor is a genai_cost/held processor keeping its held calls in ext.
func heldProcessor(t *testing.T, ext extension.Extension, next ...*consumertest.TracesSink) (*costProcessor, processor.Traces, extHost) {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Attribution.Ancestors.Wait = time.Hour
	cfg.Attribution.Ancestors.Storage = &storageID
	set := metadatatest.NewSettings(componenttest.NewTelemetry())
	set.ID = component.NewIDWithName(metadata.Type, "held")
	sink := new(consumertest.TracesSink)
	if len(next) > 0 {
		sink = next[0]
	}
	p, err := newCostProcessor(set, cfg, sink)
	require.NoError(t, err)
	tp, err := newTracesProcessor(context.Background(), set, cfg, p)
	require.NoError(t, err)
	return p, tp, extHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{storageID: ext}}
}

// TestCorruptHeldCallsFileRecovery checks the recovery the processor README
// documents for a corrupted held-calls file (issue 11, item 7). bbolt panics
// on such a file — here in its background freelist scan, a goroutine no
// recover() reaches, so file_storage's `recreate: true` cannot catch it
// either — and the collector dies at start; we cannot fix bbolt. Moving the
// processor's file aside (it is named after the processor) brings it up: the
// calls held in that file are lost (they stay in the moved file), the other
// components' files in the same directory (an exporter's queue) keep their
// data, and metering goes on.
func TestCorruptHeldCallsFileRecovery(t *testing.T) {
	if dir := os.Getenv("GENAIMETER_CORRUPT_HELD_DIR"); dir != "" {
		// The child process: start on the corrupted file, as the collector does.
		ext := startFileStorage(t, dir, true)
		_, tp, host := heldProcessor(t, ext)
		_ = tp.Start(context.Background(), host)
		time.Sleep(2 * time.Second) // bbolt's freelist goroutine panics meanwhile
		t.Log("started")
		return
	}
	ctx := context.Background()
	dir := t.TempDir()

	// A call held (its tenant is on a parent that has not arrived), stored
	// in the processor's file; an exporter's queue entry in its own file.
	ext := startFileStorage(t, dir, false)
	p, tp, host := heldProcessor(t, ext)
	require.NoError(t, tp.Start(ctx, host))
	require.NoError(t, tp.ConsumeTraces(ctx, batch(llmCall(1, 2, 1))))
	queue, err := ext.(storage.Extension).GetClient(ctx, component.KindExporter, component.MustNewID("genai_ledger"), "")
	require.NoError(t, err)
	require.NoError(t, queue.Set(ctx, "queued-batch", []byte("kept")))
	require.NoError(t, queue.Close(ctx))
	p.next = consumertest.NewErr(errors.New("stopped")) // the held call stays stored, as after a crash
	require.Error(t, tp.Shutdown(ctx))
	require.NoError(t, ext.Shutdown(ctx))

	// Corrupt the processor's file past its two meta pages.
	held := onlyFile(t, dir, "processor_genai_cost_held_")
	assert.Equal(t, "processor_genai_cost_held_held_calls", filepath.Base(held), "the name the README tells to look for")
	data, err := os.ReadFile(held)
	require.NoError(t, err)
	page := os.Getpagesize()
	require.Greater(t, len(data), 3*page)
	for i := 2 * page; i < len(data); i++ {
		data[i] = 0xa5
	}
	require.NoError(t, os.WriteFile(held, data, 0o600))

	// The collector's start dies in bbolt, even with recreate: true.
	cmd := exec.Command(os.Args[0], "-test.run=^TestCorruptHeldCallsFileRecovery$", "-test.v")
	cmd.Env = append(os.Environ(), "GENAIMETER_CORRUPT_HELD_DIR="+dir)
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the start must die on the corrupted file:\n%s", out)
	assert.Contains(t, string(out), "panic: ")
	assert.Contains(t, string(out), "go.etcd.io/bbolt")
	assert.NotContains(t, string(out), "started")

	// The documented recovery: move the file aside, start again.
	require.NoError(t, os.Rename(held, held+".corrupt"))
	ext = startFileStorage(t, dir, false)
	t.Cleanup(func() { require.NoError(t, ext.Shutdown(ctx)) })
	sink := new(consumertest.TracesSink)
	_, tp, host = heldProcessor(t, ext, sink)
	require.NoError(t, tp.Start(ctx, host), "starts with a fresh held-calls file")
	require.NoError(t, tp.ConsumeTraces(ctx, batch(parentOf(3, "acme"), llmCall(3, 4, 1))), "and meters again")
	require.NoError(t, tp.Shutdown(ctx))
	assert.Equal(t, 2, sink.SpanCount(), "the new call and its parent; the call held in the corrupted file is not restored")
	queue, err = ext.(storage.Extension).GetClient(ctx, component.KindExporter, component.MustNewID("genai_ledger"), "")
	require.NoError(t, err)
	got, err := queue.Get(ctx, "queued-batch")
	require.NoError(t, err)
	assert.Equal(t, "kept", string(got), "the other components' files are intact")
	require.NoError(t, queue.Close(ctx))
}

func mustReadDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func onlyFile(t *testing.T, dir, prefix string) string {
	t.Helper()
	var found []string
	for _, n := range mustReadDir(t, dir) {
		if strings.HasPrefix(n, prefix) {
			found = append(found, n)
		}
	}
	require.Len(t, found, 1, "files %v", mustReadDir(t, dir))
	return filepath.Join(dir, found[0])
}
