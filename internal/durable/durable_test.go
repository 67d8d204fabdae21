package durable

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSyncDir(t *testing.T) {
	require.NoError(t, SyncDir(t.TempDir()))
	err := SyncDir(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorContains(t, err, "no such file or directory")
}
