package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs one command line as main would, returning exit code and outputs.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut strings.Builder
	code := run(args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestPriceSingle(t *testing.T) {
	code, out, errOut := runCLI(t, "", "price", "--provider", "openai", "--model", "gpt-4o",
		"--at", "2025-06-15T12:00:00Z", "--usage", "input_tokens=4100,cache_read_tokens=1000,output_tokens=730")
	// (3100×2.5 + 1000×1.25 + 730×10) / 1e6
	want := `{"cost_usd":"0.0163","status":"priced","catalog_provider":"openai","catalog_model":"gpt-4o","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o"}` + "\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

func TestPriceExplainGolden(t *testing.T) {
	code, out, _ := runCLI(t, "", "price", "--provider", "anthropic", "--model", "claude-sonnet-4-6",
		"--at", "2025-06-15T12:00:00Z", "--explain",
		"--usage", "input_tokens=250000,cache_read_tokens=1000,cache_write_tokens=2000,output_tokens=730")
	want := `status:    priced
source:    embedded:genai-prices@0.1.8 (genai-prices, genai-prices@0.1.8), layer 1 of 1
provider:  anthropic (Anthropic), matched by id
model:     claude-sonnet-4-6 (Claude Sonnet 4.6), rule or(starts_with "claude-sonnet-4-6", starts_with "claude-sonnet-4.6"), matched "claude-sonnet-4-6"
price:     entry 0 of 2 (no constraint)
tiers:     chosen by input_tokens = 250000
  cache_read_tokens                    1000 × 0.6 / 1000000 [input_tokens > 200000] = 0.0006
  cache_write_tokens                   2000 × 7.5 / 1000000 [input_tokens > 200000] = 0.015
  input_tokens                       247000 × 6 / 1000000 [input_tokens > 200000] = 1.482
  output_tokens                         730 × 22.5 / 1000000 [input_tokens > 200000] = 0.016425
ref:       embedded:genai-prices@0.1.8#anthropic/claude-sonnet-4-6[0]
total:     1.514025 USD
`
	if code != 0 || out != want {
		t.Fatalf("exit %d, got\n%s\nwant\n%s", code, out, want)
	}
	// After 2026-03-13 the model has a single flat price: entry 1, no tiers.
	code, out, _ = runCLI(t, "", "price", "--provider", "anthropic", "--model", "claude-sonnet-4-6",
		"--at", "2026-03-13T00:00:00Z", "--explain", "--usage", "input_tokens=250000,output_tokens=730")
	want = `status:    priced
source:    embedded:genai-prices@0.1.8 (genai-prices, genai-prices@0.1.8), layer 1 of 1
provider:  anthropic (Anthropic), matched by id
model:     claude-sonnet-4-6 (Claude Sonnet 4.6), rule or(starts_with "claude-sonnet-4-6", starts_with "claude-sonnet-4.6"), matched "claude-sonnet-4-6"
price:     entry 1 of 2 (start_date 2026-03-13)
  input_tokens                       250000 × 3 / 1000000 = 0.75
  output_tokens                         730 × 15 / 1000000 = 0.01095
ref:       embedded:genai-prices@0.1.8#anthropic/claude-sonnet-4-6[1]
total:     0.76095 USD
`
	if code != 0 || out != want {
		t.Fatalf("exit %d, got\n%s\nwant\n%s", code, out, want)
	}
}

func TestPriceJSONL(t *testing.T) {
	in := strings.Join([]string{
		`{"provider":"openai","model":"gpt-4o","time":"2025-06-15T12:00:00Z","usage":{"input_tokens":4100,"output_tokens":730}}`,
		`not json`,
		``,
		`{"provider":"openai","model":"foo","time":"2025-06-15T12:00:00Z","usage":{"input_tokens":1}}`,
		`{"provider":"strands-agents","model":"gpt-4o","time":"2025-06-15T12:00:00Z","usage":{"input_tokens":1000000}}`,
		`{"provider":"deepseek","model":"deepseek-chat","time":"2025-06-15T17:00:00Z","usage":{"input_tokens":1000000}}`,
		`{"provider":"openai","model":"gpt-4o","time":"2025-06-15T12:00:00Z","usage":{"input_tokens":100,"cache_read_tokens":200}}`,
		`{"provider":"openai","model":"gpt-4o","time":"2025-06-15T12:00:00Z","usage":{"input_tokens":1.5}}`,
		`{"provider":"openai","model":"gpt-4o","time":"2025-06-15T12:00:00Z","usgae":{"input_tokens":10}}`,
		`{"provider":"openai","model":"gpt-4o","time":"yesterday","usage":{}}`,
		`{"provider":"openai","model":"unknown-ft","request_model":"gpt-4o-mini","time":"2025-06-15T12:00:00Z","usage":{"input_tokens":1000000}}`,
	}, "\n")
	code, out, errOut := runCLI(t, in, "price", "--jsonl")
	want := `{"cost_usd":"0.01755","status":"priced","catalog_provider":"openai","catalog_model":"gpt-4o","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o"}
{"status":"error","error":"line 2: invalid JSON: invalid character 'o' in literal null (expecting 'u')"}
{"status":"unpriced","detail":"model \"foo\" not found for provider \"openai\""}
{"cost_usd":"2.5","status":"priced","catalog_provider":"openai","catalog_model":"gpt-4o","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o","detail":"provider \"strands-agents\" is not in the catalog: priced by openai, whose model_match accepts \"gpt-4o\""}
{"cost_usd":"0.135","status":"priced","catalog_provider":"deepseek","catalog_model":"deepseek-chat","price_ref":"embedded:genai-prices@0.1.8#deepseek/deepseek-chat[0]"}
{"status":"error","catalog_provider":"openai","catalog_model":"gpt-4o","error":"invalid usage: cache_read_tokens (200) cannot exceed input_tokens (100)"}
{"status":"error","error":"line 8: usage input_tokens = 1.5: want a whole number"}
{"status":"error","error":"line 9: invalid JSON: json: unknown field \"usgae\""}
{"status":"error","error":"line 10: time \"yesterday\": want RFC 3339"}
{"cost_usd":"0.15","status":"priced","catalog_provider":"openai","catalog_model":"gpt-4o-mini","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o-mini"}
`
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d stderr %q\ngot\n%s\nwant\n%s", code, errOut, out, want)
	}
}

func TestPriceCustomCatalog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prices.json")
	data := `[{"id":"acme","name":"Acme","models":[{"id":"rocket","match":{"equals":"rocket"},"prices":{"input_mtok":0.1,"output_mtok":0.2}}]}]`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "", "price", "--prices", "genai-prices:"+path, "--provider", "acme", "--model", "rocket",
		"--at", "2025-01-01T00:00:00Z", "--usage", "input_tokens=3,output_tokens=3")
	// 3×0.1/1e6 + 3×0.2/1e6 exactly (a float sum would give 9.000000000000001e-07)
	want := `{"cost_usd":"0.0000009","status":"priced","catalog_provider":"acme","catalog_model":"rocket","price_ref":"` + path + `@sha256:` + sha12(t, data) + `#acme/rocket"}` + "\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d stderr %s\ngot %s", code, errOut, out)
	}
	code, _, errOut = runCLI(t, "", "price", "--prices", "genai-prices:"+path+".missing", "--model", "x")
	if code != 1 || !strings.Contains(errOut, path+".missing") {
		t.Fatalf("exit %d stderr %s", code, errOut)
	}
}

// TestPriceCatalogURL: --prices FORMAT:URL fetches the catalog with the
// processor's loader; the price reference names the URL, and a failed fetch
// names it too.
func TestPriceCatalogURL(t *testing.T) {
	data := `[{"id":"acme","name":"Acme","models":[{"id":"rocket","match":{"equals":"rocket"},"prices":{"input_mtok":0.1,"output_mtok":0.2}}]}]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/data.json" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(data))
	}))
	defer srv.Close()
	code, out, errOut := runCLI(t, "", "price", "--prices", "genai-prices:"+srv.URL+"/data.json", "--provider", "acme", "--model", "rocket",
		"--at", "2025-01-01T00:00:00Z", "--usage", "input_tokens=3,output_tokens=3")
	want := `{"cost_usd":"0.0000009","status":"priced","catalog_provider":"acme","catalog_model":"rocket","price_ref":"` + srv.URL + `/data.json@sha256:` + sha12(t, data) + `#acme/rocket"}` + "\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d stderr %s\ngot %s", code, errOut, out)
	}
	code, _, errOut = runCLI(t, "", "price", "--prices", "genai-prices:"+srv.URL+"/gone.json", "--model", "x")
	if code != 1 || !strings.Contains(errOut, "price catalog "+srv.URL+"/gone.json: HTTP 404 Not Found") {
		t.Fatalf("exit %d stderr %s", code, errOut)
	}
}

func TestPriceExitCodes(t *testing.T) {
	cases := []struct {
		args    []string
		code    int
		stdout  string
		errPart string
	}{
		{[]string{"price", "--provider", "openai", "--model", "nope", "--at", "2025-01-01T00:00:00Z"}, 1,
			`{"status":"unpriced","detail":"model \"nope\" not found for provider \"openai\""}` + "\n", `not priced: model "nope" not found`},
		{[]string{"price", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"price", "--model", "gpt-4o", "--at", "noon"}, 2, "", `--at "noon": want RFC 3339`},
		{[]string{"price", "--model", "gpt-4o", "--usage", "input_tokens=ten"}, 2, "", "--usage: input_tokens=ten: want a whole number"},
		{[]string{"price", "--model", "gpt-4o", "--usage", "warp_tokens=1"}, 2, "", `--usage: unknown usage key "warp_tokens"`},
		{[]string{"price", "--usage", "input_tokens=1"}, 2, "", "--model is required"},
		{[]string{"price", "--jsonl", "--model", "x"}, 2, "", "--jsonl reads calls from stdin"},
		{[]string{"price", "--prices", "nocolon", "--model", "x"}, 2, "", `--prices "nocolon": want FORMAT:PATH`},
		{[]string{"price", "--alias", "x", "--model", "x"}, 2, "", `invalid value "x" for flag -alias: want NAME=MODEL`},
		{[]string{"price", "--prices", "litellm-v0:x.json", "--model", "x"}, 1, "", `price catalog x.json: unsupported format "litellm-v0" (supported: genai-prices, litellm, genaimeter)`},
	}
	for _, tc := range cases {
		code, out, errOut := runCLI(t, "", tc.args...)
		if code != tc.code || out != tc.stdout || !strings.Contains(errOut, tc.errPart) {
			t.Errorf("%v: exit %d stdout %q stderr %q", tc.args, code, out, errOut)
		}
	}
}

func sha12(t *testing.T, data string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(data))
	return hex.EncodeToString(sum[:6])
}

// A line longer than the limit is reported with its number and the lines
// after it are still priced (issue 11, item 11: it stopped the stream with
// "bufio.Scanner: token too long").
func TestPriceJSONLOverlongLine(t *testing.T) {
	ok := `{"provider":"openai","model":"gpt-4o","time":"2025-06-15T12:00:00Z","usage":{"input_tokens":1000000}}`
	huge := `{"provider":"openai","model":"gpt-4o","pad":"` + strings.Repeat("x", 30<<20) + `"}`
	in := ok + "\n" + huge + "\n" + ok + "\n" + huge // the last one without a newline
	code, out, errOut := runCLI(t, in, "price", "--jsonl")
	priced := `{"cost_usd":"2.5","status":"priced","catalog_provider":"openai","catalog_model":"gpt-4o","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o"}` + "\n"
	want := priced +
		`{"status":"error","error":"line 2: 31457327 bytes, longer than the limit of 4194304: not read"}` + "\n" +
		priced +
		`{"status":"error","error":"line 4: 31457327 bytes, longer than the limit of 4194304: not read"}` + "\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d stderr %q\ngot\n%s\nwant\n%s", code, errOut, out, want)
	}
}

// TestPriceProviderAndTierNotes: an unknown provider's call says whose price
// it got; --tier that is no service tier (of providers or of a catalog) is
// refused (it was priced as standard without a word); a tier the model has no
// price for, on the command line or in a JSONL line, is priced standard and
// says so (issue 11, item 12). A catalog's own tier name is accepted.
func TestPriceProviderAndTierNotes(t *testing.T) {
	code, out, errOut := runCLI(t, "", "price", "--provider", "strands-agents", "--model", "gpt-4o",
		"--at", "2025-06-15T12:00:00Z", "--usage", "input_tokens=1000000")
	want := `{"cost_usd":"2.5","status":"priced","catalog_provider":"openai","catalog_model":"gpt-4o","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o","detail":"provider \"strands-agents\" is not in the catalog: priced by openai, whose model_match accepts \"gpt-4o\""}` + "\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("exit %d stderr %q\ngot  %s\nwant %s", code, errOut, out, want)
	}

	code, out, errOut = runCLI(t, "", "price", "--provider", "openai", "--model", "gpt-4o",
		"--at", "2025-06-15T12:00:00Z", "--usage", "input_tokens=1000000", "--tier", "nonsense")
	wantErr := "genaimeter price: --tier \"nonsense\": not a service tier; want standard or one of batch, flex, priority, scale\n"
	if code != 2 || out != "" || errOut != wantErr {
		t.Fatalf("exit %d stdout %q\nstderr %q\nwant   %q", code, out, errOut, wantErr)
	}
	for _, tier := range []string{"standard", "default", "on_demand", ""} {
		if code, _, errOut := runCLI(t, "", "price", "--provider", "openai", "--model", "gpt-4o",
			"--at", "2025-06-15T12:00:00Z", "--usage", "input_tokens=1", "--tier", tier); code != 0 {
			t.Fatalf("--tier %q: exit %d %s", tier, code, errOut)
		}
	}

	// gpt-4o has no flex price in the snapshot: standard, said.
	code, out, _ = runCLI(t, "", "price", "--provider", "openai", "--model", "gpt-4o",
		"--at", "2025-06-15T12:00:00Z", "--usage", "input_tokens=1000000", "--tier", "flex")
	want = `{"cost_usd":"2.5","status":"priced","catalog_provider":"openai","catalog_model":"gpt-4o","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o","detail":"service tier flex has no price in the catalog entry: standard price charged"}` + "\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d\ngot  %s\nwant %s", code, out, want)
	}
	contract := filepath.Join(t.TempDir(), "contract.yaml")
	if err := os.WriteFile(contract, []byte("version: c1\nmodels:\n  - provider: acme\n    model: rocket\n    prices:\n      input_mtok: 2\n      service_tiers:\n        overnight: {input_mtok: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "", "price", "--prices", "embedded", "--prices", "genaimeter:"+contract, "--provider", "acme", "--model", "rocket",
		"--at", "2025-06-15T12:00:00Z", "--usage", "input_tokens=1000000", "--tier", "overnight")
	want = `{"cost_usd":"1","status":"priced","catalog_provider":"acme","catalog_model":"rocket","price_ref":"` + contract + `@c1#acme/rocket~overnight","service_tier":"overnight"}` + "\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d stderr %s\ngot  %s\nwant %s", code, errOut, out, want)
	}
	in := `{"provider":"openai","model":"gpt-4o","time":"2025-06-15T12:00:00Z","tier":"nonsense","usage":{"input_tokens":1000000}}`
	code, out, _ = runCLI(t, in, "price", "--jsonl")
	want = `{"cost_usd":"2.5","status":"priced","catalog_provider":"openai","catalog_model":"gpt-4o","price_ref":"embedded:genai-prices@0.1.8#openai/gpt-4o","detail":"service tier nonsense has no price in the catalog entry: standard price charged"}` + "\n"
	if code != 0 || out != want {
		t.Fatalf("exit %d\ngot  %s\nwant %s", code, out, want)
	}
}
