package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestExampleConfigsValidate runs `validate` on every pipeline under config/:
// the examples users copy must stay valid.
func TestExampleConfigsValidate(t *testing.T) {
	bin := collectorBinary(t)
	configs, err := filepath.Glob(filepath.Join(repoRoot(t), "config", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, configs)
	for _, cfg := range configs {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			out, err := exec.Command(bin, "validate", "--config="+cfg).CombinedOutput()
			require.NoError(t, err, "%s", out)
		})
	}
}

// TestValidateNamesTheBadKey checks that a bad configuration fails validate
// with the key and the value in the message.
func TestValidateNamesTheBadKey(t *testing.T) {
	bin := collectorBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "bad.yaml")
	writeFile(t, cfg, `
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
processors:
  genai_cost:
    pricing:
      sources:
        - format: litellm-v0
          path: ./prices.json
connectors:
  genai_usage:
exporters:
  genai_ledger:
    sqlite:
      path: ""
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_ledger]
`)
	out, err := exec.Command(bin, "validate", "--config="+cfg).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), `pricing.sources[0].format: unsupported format "litellm-v0"`)
	assert.Contains(t, string(out), `sqlite.path: must not be empty`)
}

// TestComponentsListsOurs checks that the distribution carries our three
// components under their types.
func TestComponentsListsOurs(t *testing.T) {
	out, err := exec.Command(collectorBinary(t), "components").CombinedOutput()
	require.NoError(t, err, "%s", out)
	s := string(out)
	for _, section := range []struct{ kind, name string }{
		{"processors:", "- name: genai_cost"},
		{"connectors:", "- name: genai_usage"},
		{"exporters:", "- name: genai_ledger"},
	} {
		i := strings.Index(s, section.kind)
		require.GreaterOrEqual(t, i, 0, "no %s section", section.kind)
		assert.Contains(t, s[i:], section.name)
	}
}
