package genaibillingexporter

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"
)

// TestStartNamesTheMissingQueueStorage: a sending_queue.storage id that is
// no started extension fails the start with the key and the id (issue 11,
// item 8: exporterhelper only says "no storage client extension found").
func TestStartNamesTheMissingQueueStorage(t *testing.T) {
	cfg := loadConfig(t, "stripe")
	cfg.DeadLetter.Path = filepath.Join(t.TempDir(), "dead.jsonl")
	id := component.MustNewID("file_storage")
	cfg.QueueConfig.GetOrInsertDefault().StorageID = &id
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(NewFactory().Type()), cfg)
	require.NoError(t, err)
	err = exp.Start(context.Background(), componenttest.NewNopHost())
	assert.EqualError(t, err, `sending_queue.storage: extension "file_storage" not found: declare it under extensions and list it in service.extensions`)
	require.NoError(t, exp.Shutdown(context.Background()))
}
