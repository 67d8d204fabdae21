package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPricesLintGolden: every problem of each catalog with FILE:LINE:COL,
// then a verdict line; exit 1 when a catalog is refused.
func TestPricesLintGolden(t *testing.T) {
	const dir = "../../internal/pricing/testdata"
	bad, native, good := dir+"/litellm/bad.json", dir+"/native/bad.yaml", dir+"/native/contract.yaml"
	code, out, errOut := runCLI(t, "", "prices", "lint", bad, native, good)
	want := bad + `:8:9: error: negative-model.input_cost_per_token: negative price "-1e-06"
` + bad + `:12:9: error: string-price.input_cost_per_token: must be a number, got 0.000001
` + bad + `:15:5: error: no-provider.litellm_provider: missing: every entry needs its provider
` + bad + `:18:5: warning: tts-model: no supported price: model not loaded
` + bad + `:19:9: warning: tts-model.input_cost_per_character: cost key not supported: this part of the price is not applied
` + bad + `:23:5: error: cache-without-input: cache_read_mtok: missing ancestor price key input_mtok
` + bad + `:27:5: warning: "good-model": same provider and model as "good-model", which is used
` + bad + `: litellm catalog refused: 7 problems
` + native + `:6:19: error: models[0] openai/gpt-x.prices.input_mtok: negative price "-1"
` + native + `:7:7: error: models[0] openai/gpt-x.prices: unknown price key "outptu_mtok"
` + native + `:8:5: error: models[1].model: required
` + native + `:17:23: error: models[2] openai/gpt-y.prices[1].effective_to: 2025-03-01 is not after effective_from 2025-06-01
` + native + `:24:9: error: models[3] openai/gpt-z.prices[1]: overlaps prices[0] (effective 2025-01-01 to (open) and effective 2025-06-01 to (open))
` + native + `:29:7: error: models[4] openai/gpt-w.prices: cache_read_mtok: missing ancestor price key input_mtok
` + native + `:32:14: error: discounts[0].percent: "120" must be a number above 0 and at most 100
` + native + `:33:5: error: discounts[1].provider: required
` + native + `:35:21: error: discounts[1].effective_from: "2025-13-01" is not a date (want YYYY-MM-DD or RFC 3339)
` + native + `:36:1: error: unknown key "vendors" (want version, models, discounts)
` + native + `: genaimeter catalog refused: 10 problems
` + good + `: genaimeter catalog ok: 3 models, 0 warnings, version acme-2025-07
`
	if code != 1 || out != want || errOut != "genaimeter prices: 2 of 3 catalogs refused\n" {
		t.Fatalf("exit %d stderr %q\ngot\n%s\nwant\n%s", code, errOut, out, want)
	}
	// The example price files of config/ are clean.
	files, err := filepath.Glob("../../config/prices/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example price files: %v", err)
	}
	code, out, _ = runCLI(t, "", append([]string{"prices", "lint"}, files...)...)
	if code != 0 || strings.Contains(out, "error") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	// A genai-prices file is recognized as such.
	path := filepath.Join(t.TempDir(), "p.json")
	if err := os.WriteFile(path, []byte(`[{"id":"p","models":[{"id":"m","match":{"equals":"m"},"prices":{"input_mtok":-2}}]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "", "prices", "lint", path)
	if code != 1 || out != path+`:1:22: error: provider[0] "p" model[0] "m": prices: input_mtok: negative price "-2"`+"\n"+path+": genai-prices catalog refused: 1 problems\n" {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"prices"}, {"prices", "lint"}, {"prices", "lint", "--format", "csv", "x"}} {
		if code, _, _ := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestPriceLayersExplain: --prices layers sources; --explain says which
// source and entry matched, the tier and the discount.
func TestPriceLayersExplain(t *testing.T) {
	const dir = "../../internal/pricing/testdata"
	code, out, errOut := runCLI(t, "", "price", "--prices", "embedded", "--prices", "litellm:"+dir+"/litellm/prices.json",
		"--prices", "genaimeter:"+dir+"/native/contract.yaml", "--provider", "openai", "--model", "gpt-4.1-2025-04-14",
		"--tier", "flex", "--at", "2025-07-01T00:00:00Z", "--explain", "--usage", "input_tokens=1000000,output_tokens=200000")
	want := `status:    priced
source:    ` + dir + `/native/contract.yaml (genaimeter, acme-2025-07), layer 3 of 3
name:      gpt-4.1-2025-04-14 is gpt-4.1 in embedded:genai-prices@0.1.8
provider:  openai (openai), matched by id
model:     gpt-4.1 (gpt-4.1), rule or(equals "gpt-4.1"), matched "gpt-4.1"
price:     entry 1 of 2 (effective 2025-07-01 to 2026-01-01)
service:   flex tier price
  input_tokens                      1000000 × 0.85 / 1000000 = 0.85
  output_tokens                      200000 × 3.4 / 1000000 = 0.68
ref:       ` + dir + `/native/contract.yaml@acme-2025-07#openai/gpt-4.1[1]~flex
total:     1.53 USD
`
	if code != 0 || out != want {
		t.Fatalf("exit %d stderr %s\ngot\n%s\nwant\n%s", code, errOut, out, want)
	}
}

// Names in a catalog file are printed escaped: a newline in a LiteLLM model
// key cannot forge a line of the lint report, nor a provider name a line of
// --explain (issue 11, item 10).
func TestPricesOutputEscapesControlCharacters(t *testing.T) {
	dir := t.TempDir()
	lite := filepath.Join(dir, "lite.json")
	if err := os.WriteFile(lite, []byte(`{"evil\nlite.json: litellm catalog ok: 1 models":{"litellm_provider":"openai","input_cost_per_token":-1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "", "prices", "lint", lite)
	want := lite + `:1:79: error: evil\nlite.json: litellm catalog ok: 1 models.input_cost_per_token: negative price "-1"` + "\n" +
		lite + ": litellm catalog refused: 1 problems\n"
	if code != 1 || out != want {
		t.Fatalf("exit %d\ngot\n%s\nwant\n%s", code, out, want)
	}

	gp := filepath.Join(dir, "gp.json")
	if err := os.WriteFile(gp, []byte(`[{"id":"acme","name":"Acme\ntotal:     0 USD\u001b[8m","models":[{"id":"rocket","name":"Rocket\r","match":{"equals":"rocket"},"prices":{"input_mtok":1}}]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "price", "--prices", "genai-prices:"+gp, "--provider", "acme", "--model", "rocket",
		"--at", "2025-01-01T00:00:00Z", "--usage", "input_tokens=1000000", "--explain")
	want = `status:    priced
source:    ` + gp + ` (genai-prices, sha256:` + sha12(t, mustRead(t, gp)) + `), layer 1 of 1
provider:  acme (Acme\ntotal:     0 USD\x1b[8m), matched by id
model:     rocket (Rocket\r), rule equals "rocket", matched "rocket"
price:     single price entry
  input_tokens                      1000000 × 1 / 1000000 = 1
ref:       ` + gp + `@sha256:` + sha12(t, mustRead(t, gp)) + `#acme/rocket
total:     1 USD
`
	if code != 0 || out != want {
		t.Fatalf("exit %d stderr %s\ngot\n%s\nwant\n%s", code, errOut, out, want)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
