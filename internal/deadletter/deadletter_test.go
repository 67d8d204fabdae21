package deadletter

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
