package genailedgerexporter

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/genaimeter/genaimeter/exporter/genailedgerexporter/internal/metadata"
)

// TestStartNamesTheMissingQueueStorage: a sending_queue.storage id that is
// no started extension fails the start with the key and the id (issue 11,
// item 8: exporterhelper only says "no storage client extension found").
func TestStartNamesTheMissingQueueStorage(t *testing.T) {
	cfg := testConfig(t)
	id := component.MustNewIDWithName("file_storage", "held")
	cfg.QueueConfig.GetOrInsertDefault().StorageID = &id
	exp, err := NewFactory().CreateLogs(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	err = exp.Start(context.Background(), componenttest.NewNopHost())
	assert.EqualError(t, err, `sending_queue.storage: extension "file_storage/held" not found: declare it under extensions and list it in service.extensions`)
	require.NoError(t, exp.Shutdown(context.Background()))
}
