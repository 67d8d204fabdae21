package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// TestLedgerFilesArePrivate: the ledger, its -wal and -shm are created 0600
// under the usual umask 022 (they were 0644, world-readable customer data;
// issue 11, item 5). An existing file keeps the mode its operator gave it.
func TestLedgerFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	path := filepath.Join(t.TempDir(), "data", "usage.db")
	s, err := Open(path)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.Migrate(ctx))
	_, _, err = s.Insert(ctx, []usage.Record{{EventID: strings.Repeat("e1", 24), Time: time.Unix(1, 0), TenantID: "acme", PricingStatus: usage.StatusUnpriced}})
	require.NoError(t, err)
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(name)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
	}
	dir, err := os.Stat(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o750), dir.Mode().Perm(), "the directory it creates")
	require.NoError(t, s.Close())

	shared := filepath.Join(t.TempDir(), "shared.db")
	require.NoError(t, os.WriteFile(shared, nil, 0o640))
	s, err = Open(shared)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(ctx))
	_, _, err = s.Insert(ctx, []usage.Record{{EventID: strings.Repeat("e1", 24), Time: time.Unix(1, 0), TenantID: "acme", PricingStatus: usage.StatusUnpriced}})
	require.NoError(t, err)
	// As the README says: SQLite gives -wal and -shm the database's mode.
	for _, name := range []string{shared, shared + "-wal", shared + "-shm"} {
		st, err := os.Stat(name)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "an existing ledger keeps its mode: %s", name)
	}
	require.NoError(t, s.Close())
}
