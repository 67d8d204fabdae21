package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/genaimeter/genaimeter/internal/pricing"
	"github.com/genaimeter/genaimeter/internal/printable"
)

func init() {
	register("prices", command{
		summary: "price catalogs: lint FILE... checks them as the processor does at start",
		run:     runPrices,
	})
}

const pricesUsage = `usage: genaimeter prices lint [--format genai-prices|litellm|genaimeter] FILE...

Reports every problem of each catalog with its location (FILE:LINE:COL:
severity: message). Errors make the processor refuse to start; warnings are
prices the engine loads but cannot apply (logged at start). Without --format,
.yaml/.yml is genaimeter, a .json array genai-prices, a .json object litellm.
Exit status: 0 clean or warnings only, 1 errors, 2 usage.`

func runPrices(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "lint" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, pricesUsage)
			return nil
		}
		return usageError{fmt.Errorf("want a subcommand: lint\n%s", pricesUsage)}
	}
	fs := flag.NewFlagSet("prices lint", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "", "catalog format (default: from the file)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, pricesUsage)
			return nil
		}
		return usageError{fmt.Errorf("%v\n%s", err, pricesUsage)}
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("lint: give at least one FILE")}
	}
	if *format != "" && !contains(pricing.Formats(), *format) {
		return usageError{fmt.Errorf("--format %q: want one of %s", *format, strings.Join(pricing.Formats(), ", "))}
	}
	failed := 0
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintf(stdout, "%s: error: %s\n", printable.Escape(path), printable.Escape(err.Error()))
			failed++
			continue
		}
		f := *format
		if f == "" {
			f = sniffFormat(path, data)
		}
		c, probs, err := pricing.Parse(f, data, path)
		pricing.WriteProblems(stdout, path, probs)
		if err != nil {
			failed++
			fmt.Fprintf(stdout, "%s: %s catalog refused: %d problems\n", printable.Escape(path), f, len(probs))
			continue
		}
		fmt.Fprintf(stdout, "%s: %s catalog ok: %d models, %d warnings, version %s\n", printable.Escape(path), f, c.NumModels(), len(probs), printable.Escape(c.Version()))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d catalogs refused", failed, fs.NArg())
	}
	return nil
}

func sniffFormat(path string, data []byte) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		return pricing.FormatNative
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		return pricing.FormatGenAIPrices
	}
	return pricing.FormatLiteLLM
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
