package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ocbBuild is one ocb manifest that an end-to-end test builds itself (other
// than otelcol-genaimeter, which `make build` makes).
type ocbBuild struct {
	// ocb is the builder's version: it must match the manifest's core version.
	ocb string
	// manifest is the builder config, relative to the repo root (ocb runs
	// there, so that `path: ./` entries name this clone).
	manifest string
	// name is the manifest's dist.name: the binary ocb writes.
	name string
	// withSources: the manifest takes genaimeter's components from this clone
	// (`path:`), so a change to them must rebuild it.
	withSources bool
}

// binary returns the built distribution, building it with ocb on a cold
// cache. The binary is kept under bin/e2e, named by a hash of everything
// that goes into it (ocb and Go versions, the manifest, and with withSources
// genaimeter's sources): a warm run reuses it, any change rebuilds it, and a
// cold build of a manifest at other core versions (the scale-out front tier)
// takes minutes, so it must not be repeated on every run.
func (b ocbBuild) binary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: builds an ocb manifest")
	}
	root := repoRoot(t)
	manifest, err := os.ReadFile(filepath.Join(root, b.manifest))
	require.NoError(t, err)
	h := sha256.New()
	io.WriteString(h, b.ocb+"\x00"+runtime.Version()+"\x00")
	h.Write(manifest)
	if b.withSources {
		hashSources(t, h, root)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	cacheDir := filepath.Join(root, "bin", "e2e")
	bin := filepath.Join(cacheDir, b.name+"-"+key)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}

	builder := b.installBuilder(t, root)
	out := t.TempDir()
	start := time.Now()
	cmd := exec.Command(builder, "--config="+filepath.Join(root, b.manifest), "--output-path="+out)
	cmd.Dir = root
	log, err := cmd.CombinedOutput()
	require.NoError(t, err, "ocb %s --config=%s:\n%s", b.ocb, b.manifest, log)
	t.Logf("built %s with ocb %s in %s", b.manifest, b.ocb, time.Since(start).Round(time.Second))

	// Older builds of this manifest are of no more use: keep bin/ small.
	old, _ := filepath.Glob(filepath.Join(cacheDir, b.name+"-*"))
	for _, o := range old {
		os.Remove(o)
	}
	require.NoError(t, os.MkdirAll(cacheDir, 0o755))
	// Copy then rename, so that an interrupted copy never looks like a build.
	tmp := bin + ".tmp"
	data, err := os.ReadFile(filepath.Join(out, b.name))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(tmp, data, 0o755))
	require.NoError(t, os.Rename(tmp, bin))
	return bin
}

// installBuilder returns ocb of b.ocb, installing it under bin/tools on
// first use (`make build` installs only the distribution's own version).
func (b ocbBuild) installBuilder(t testing.TB, root string) string {
	t.Helper()
	dir := filepath.Join(root, "bin", "tools", "builder-"+b.ocb)
	builder := filepath.Join(dir, "builder")
	if _, err := os.Stat(builder); err == nil {
		return builder
	}
	cmd := exec.Command("go", "install", "go.opentelemetry.io/collector/cmd/builder@"+b.ocb)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go install ocb %s:\n%s", b.ocb, out)
	return builder
}

// hashSources feeds what a build of genaimeter's components depends on into
// h: every file of the module but tests, docs and the directories that are
// not part of it (build outputs, node packages, test data).
func hashSources(t testing.TB, h io.Writer, root string) {
	t.Helper()
	skipDirs := map[string]bool{".git": true, "bin": true, "dist": true, "data": true, "node_modules": true, "testdata": true}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if skipDirs[d.Name()] || rel == "test" {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasSuffix(rel, "_test.go") || strings.HasSuffix(rel, ".md") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		io.WriteString(h, rel+"\x00")
		h.Write(data)
		return nil
	})
	require.NoError(t, err)
}
