package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckConfigNamesEveryProblem: the configuration that "validate" passes
// and start fails on (issue 11, item 8): storage extension ids of the
// processor and of sending_queue (ours and another exporter's) undeclared or
// not started, a missing price file, a negative price, a missing plans file,
// a missing customers file. Each is reported with its key; a component no
// pipeline uses, and a disabled queue, are not started and not reported.
func TestCheckConfigNamesEveryProblem(t *testing.T) {
	code, out, errOut := runCLI(t, "", "check-config", "testdata/checkconfig/bad.yaml")
	want := `exporters.genai_billing/webhook.customers.file: testdata/checkconfig/missing-customers.yaml: open testdata/checkconfig/missing-customers.yaml: no such file or directory
exporters.genai_ledger.sending_queue.storage: extension "file_storage/declared_only" is declared but not listed in service.extensions: it is not started
exporters.otlphttp.sending_queue.storage: extension "file_storage/nope" is not declared under extensions
processors.genai_cost.attribution.ancestors.storage: extension "file_storage/held" is not declared under extensions
processors.genai_cost.billing.plans.file: testdata/checkconfig/missing-plans.yaml: open testdata/checkconfig/missing-plans.yaml: no such file or directory
processors.genai_cost.pricing.sources[1].path: open testdata/checkconfig/missing-prices.yaml: no such file or directory
processors.genai_cost.pricing.sources[2].path: testdata/checkconfig/negative-price.yaml:5:26: models[0] acme/rocket.prices.input_mtok: negative price "-1"
`
	if code != 1 || out != want || errOut != "genaimeter check-config: testdata/checkconfig/bad.yaml: 7 problems\n" {
		t.Fatalf("exit %d stderr %q\ngot\n%s\nwant\n%s", code, errOut, out, want)
	}
}

// TestCheckConfigValidateAndFiles: Validate's own problems are listed one
// per line under the component's key; a malformed customers map and an
// unwritable dead-letter location are found; ${env:...} is resolved.
func TestCheckConfigValidateAndFiles(t *testing.T) {
	dir := t.TempDir()
	customers := filepath.Join(dir, "customers.yaml")
	if err := os.WriteFile(customers, []byte("acme: [not, a, scalar]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config.yaml")
	t.Setenv("CHECK_CONFIG_CUSTOMERS", customers)
	writeFile(t, cfg, `receivers:
  otlp:
    protocols:
      http:
processors:
  genai_cost:
    pricing:
      batch: {values: ["yes"]}
      revenue:
        default:
          rates: {input_mtok: -1}
connectors:
  genai_usage:
exporters:
  genai_billing:
    backend: webhook
    endpoint: http://127.0.0.1:9/usage
    webhook: {secret: s}
    customers: {file: "${env:CHECK_CONFIG_CUSTOMERS}"}
    meters: [{name: tokens, value: total_tokens}]
    dead_letter: {path: `+blocker+`/dead.jsonl}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [genai_cost]
      exporters: [genai_usage]
    logs:
      receivers: [genai_usage]
      exporters: [genai_billing]
`)
	code, out, _ := runCLI(t, "", "check-config", cfg)
	want := `exporters.genai_billing.customers.file: ` + customers + `: line 1: value of "acme" must be a non-empty string, got a list
exporters.genai_billing.dead_letter.path: ` + blocker + `/dead.jsonl: cannot create dead.jsonl: ` + blocker + ` is not a directory
processors.genai_cost: pricing.batch.values: set without pricing.batch.attribute
processors.genai_cost: pricing.revenue.default: rates.input_mtok: negative price "-1"
`
	if code != 1 || out != want {
		t.Fatalf("exit %d\ngot\n%s\nwant\n%s", code, out, want)
	}
}

// TestCheckConfigExamplesAreClean: the shipped example configurations pass
// (paths in them are relative to the repository root).
func TestCheckConfigExamplesAreClean(t *testing.T) {
	t.Chdir("../..")
	files, err := filepath.Glob("config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs: %v", err)
	}
	for _, f := range files {
		code, out, errOut := runCLI(t, "", "check-config", f)
		if code != 0 || out != f+": ok\n" {
			t.Errorf("%s: exit %d\n%s%s", f, code, out, errOut)
		}
	}
}

func TestCheckConfigUsage(t *testing.T) {
	for _, args := range [][]string{{"check-config"}, {"check-config", "a", "b"}} {
		if code, _, errOut := runCLI(t, "", args...); code != 2 || !strings.Contains(errOut, "want one FILE") {
			t.Errorf("%v: exit %d %s", args, code, errOut)
		}
	}
	code, _, errOut := runCLI(t, "", "check-config", "testdata/checkconfig/nope.yaml")
	if code != 1 || !strings.Contains(errOut, "nope.yaml") {
		t.Errorf("missing file: exit %d %s", code, errOut)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
