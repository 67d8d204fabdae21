package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/pricing"
)

func init() {
	register("price", command{
		summary: "price one call or a JSONL stream of calls from the price catalog",
		run:     runPrice,
	})
}

const priceUsage = `usage: genaimeter price --provider P --model M [--at RFC3339] --usage key=N,key=N [--tier T] [--explain] [--prices FORMAT:PATH]... [--alias NAME=MODEL]...
       genaimeter price --jsonl [--at RFC3339] [--prices FORMAT:PATH]... < calls.jsonl

Usage keys are those of genai-prices: input_tokens is the TOTAL input including
cache_read_tokens and cache_write_tokens; output_tokens includes
output_reasoning_tokens. JSONL input lines: {"provider","model","time","usage":{...}}
(optional "request_model", tried when "model" is unknown; "tier"; "time" defaults to --at).
Each output line: {"cost_usd","status":"priced|unpriced|error","catalog_provider","catalog_model","price_ref",...}.
A line that cannot be read (bad JSON, longer than 4 MiB) gives an error line
naming its number; the lines after it are still priced.

--prices layers catalogs as the processor's pricing.sources do: a later one
overrides an earlier one for the same model. FORMAT is genai-prices, litellm or
genaimeter; "--prices embedded" is the built-in genai-prices snapshot (the
default when no --prices is given).`

// priceLine is one JSONL input line.
type priceLine struct {
	Provider     string                 `json:"provider"`
	Model        string                 `json:"model"`
	RequestModel string                 `json:"request_model"`
	Time         string                 `json:"time"`
	Tier         string                 `json:"tier"`
	Usage        map[string]json.Number `json:"usage"`
}

// priceOut is one output line. Cost is a string: the exact decimal, never a
// float.
type priceOut struct {
	CostUSD         string `json:"cost_usd,omitempty"`
	Status          string `json:"status"`
	CatalogProvider string `json:"catalog_provider,omitempty"`
	CatalogModel    string `json:"catalog_model,omitempty"`
	PriceRef        string `json:"price_ref,omitempty"`
	ServiceTier     string `json:"service_tier,omitempty"`
	Detail          string `json:"detail,omitempty"`
	Error           string `json:"error,omitempty"`
}

func runPrice(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("price", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	provider := fs.String("provider", "", "provider name as reported by the instrumentation (empty: resolve by model)")
	modelName := fs.String("model", "", "model name")
	at := fs.String("at", "", "time of the call, RFC 3339 (default: now)")
	usageFlag := fs.String("usage", "", "usage counts: key=N,key=N")
	jsonl := fs.Bool("jsonl", false, "read calls as JSON lines from stdin, write one result line each")
	explain := fs.Bool("explain", false, "show which provider, model, price entry and tier applied and each bucket's cost")
	var prices []string
	fs.Func("prices", "price catalog FORMAT:PATH or FORMAT:URL, or embedded; repeat to layer (default: embedded genai-prices snapshot)", func(v string) error {
		prices = append(prices, v)
		return nil
	})
	aliases := map[string]string{}
	fs.Func("alias", "model alias NAME=MODEL (an Azure deployment name, say); repeatable", func(v string) error {
		k, m, ok := strings.Cut(v, "=")
		if !ok || k == "" || m == "" {
			return fmt.Errorf("want NAME=MODEL")
		}
		aliases[k] = m
		return nil
	})
	tier := fs.String("tier", "", "service tier of the call: flex, priority, batch, scale or a tier a loaded catalog prices (default: standard); another name is refused")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, priceUsage)
			return nil
		}
		return usageError{fmt.Errorf("%v\n%s", err, priceUsage)}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	when := time.Now()
	if *at != "" {
		t, err := time.Parse(time.RFC3339Nano, *at)
		if err != nil {
			return usageError{fmt.Errorf("--at %q: want RFC 3339, e.g. 2025-06-15T12:00:00Z", *at)}
		}
		when = t
	}
	cat, err := loadBook(prices, aliases)
	if err != nil {
		return err
	}
	if *jsonl {
		if *modelName != "" || *provider != "" || *usageFlag != "" || *explain {
			return usageError{errors.New("--jsonl reads calls from stdin: --provider, --model, --usage and --explain do not apply")}
		}
		return priceJSONL(cat, when, stdin, stdout)
	}
	if *modelName == "" {
		return usageError{errors.New("--model is required (or use --jsonl)")}
	}
	if t := pricing.NormalizeTier(*tier); t != "" {
		// Priced at the standard price, a typo would read as a real answer.
		known := knownTiers(cat)
		if !contains(known, t) {
			return usageError{fmt.Errorf("--tier %q: not a service tier; want standard or one of %s", *tier, strings.Join(known, ", "))}
		}
	}
	q := &pricing.Query{Provider: *provider, ResponseModel: *modelName, At: when, Tier: *tier}
	if err := parseUsageFlag(*usageFlag, &q.Usage); err != nil {
		return usageError{fmt.Errorf("--usage: %w", err)}
	}
	var r pricing.Result
	if *explain {
		cat.Explain(q, &r).Write(stdout, &r)
	} else {
		if err := writeOut(stdout, resultOut(&r, cat, q)); err != nil {
			return err
		}
	}
	switch r.Status {
	case pricing.Priced:
		return nil
	case pricing.UnknownModel:
		return fmt.Errorf("not priced: %s", r.Detail)
	default:
		return errors.New(r.Detail)
	}
}

// loadBook layers the --prices catalogs (default: the embedded snapshot).
// A catalog is a file or, when PATH is an http(s) URL, fetched; either way
// it is read by the loader the processor uses (pricing.Source).
func loadBook(prices []string, aliases map[string]string) (*pricing.Book, error) {
	var layers []*pricing.Catalog
	for _, p := range prices {
		src := pricing.Source{Embedded: p == "embedded"}
		if !src.Embedded {
			format, path, ok := strings.Cut(p, ":")
			if !ok || path == "" {
				return nil, usageError{fmt.Errorf("--prices %q: want FORMAT:PATH, e.g. genai-prices:./data.json, or embedded", p)}
			}
			src.Format = format
			if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
				src.URL = path
			} else {
				src.Path = path
			}
		}
		c, _, err := src.Load(context.Background())
		if err != nil {
			return nil, fmt.Errorf("price catalog %s: %w", src.Name(), err)
		}
		layers = append(layers, c)
	}
	if len(layers) == 0 {
		layers = []*pricing.Catalog{pricing.Embedded()}
	}
	b, err := pricing.NewBook(layers, pricing.BookOptions{Aliases: aliases})
	if err != nil {
		return nil, usageError{fmt.Errorf("--alias: %w", err)}
	}
	return b, nil
}

func resultOut(r *pricing.Result, cat *pricing.Book, q *pricing.Query) priceOut {
	cat.Price(q, r)
	switch r.Status {
	case pricing.Priced:
		ref := r.Ref
		if r.DiscountRef != "" {
			ref += " " + r.DiscountRef
		}
		return priceOut{CostUSD: money.Format(&r.Cost), Status: "priced", CatalogProvider: r.ProviderID, CatalogModel: r.ModelID,
			PriceRef: ref, ServiceTier: r.Tier, Detail: pricedDetail(r, q.Tier)}
	case pricing.UnknownModel:
		return priceOut{Status: "unpriced", Detail: r.Detail}
	default:
		return priceOut{Status: "error", CatalogProvider: r.ProviderID, CatalogModel: r.ModelID, Error: r.Detail}
	}
}

// knownTiers are the service tiers --tier accepts besides standard: those
// providers sell (a catalog without their prices charges standard, and says
// so) and any other a loaded catalog has prices for.
func knownTiers(cat *pricing.Book) []string {
	known := []string{"batch", "flex", "priority", "scale"}
	for _, t := range cat.ServiceTiers() {
		if !contains(known, t) {
			known = append(known, t)
		}
	}
	sort.Strings(known)
	return known
}

// pricedDetail says what a reader of a priced line would not guess: how the
// model name was read, why the price is another provider's, and that a
// service tier without a price of its own was charged the standard price.
// The processor writes the same notes to pricing_detail.
func pricedDetail(r *pricing.Result, tier string) string {
	var notes []string
	if r.Normalized != "" {
		notes = append(notes, r.Normalized)
	}
	if r.ProviderNote != "" {
		notes = append(notes, r.ProviderNote)
	}
	if t := pricing.NormalizeTier(tier); t != "" && r.Tier != t {
		notes = append(notes, "service tier "+tier+" has no price in the catalog entry: standard price charged")
	}
	return strings.Join(notes, "; ")
}

func parseUsageFlag(s string, u *pricing.Usage) error {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return fmt.Errorf("%q: want key=N", kv)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s=%s: want a whole number", k, v)
		}
		if err := u.Set(k, n); err != nil {
			return err
		}
	}
	return nil
}

// priceJSONL prices each input line; a line that cannot be read yields an
// error line and the stream goes on.
func priceJSONL(cat *pricing.Book, defaultTime time.Time, stdin io.Reader, stdout io.Writer) error {
	lr := newLineReader(stdin, maxLineBytes)
	w := bufio.NewWriter(stdout)
	var r pricing.Result
	for {
		raw, skipped, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			w.Flush()
			return fmt.Errorf("reading stdin after line %d: %w", lr.n, err)
		}
		var out priceOut
		if skipped > 0 {
			// Reported like any unreadable line: the stream goes on.
			out = priceOut{Status: "error", Error: fmt.Sprintf("line %d: %d bytes, longer than the limit of %d: not read", lr.n, skipped, maxLineBytes)}
		} else {
			line := bytes.TrimSpace(raw)
			if len(line) == 0 {
				continue
			}
			q, err := parsePriceLine(line, defaultTime)
			if err != nil {
				out = priceOut{Status: "error", Error: fmt.Sprintf("line %d: %v", lr.n, err)}
			} else {
				out = resultOut(&r, cat, q)
			}
		}
		if err := writeOut(w, out); err != nil {
			return err
		}
	}
	return w.Flush()
}

func parsePriceLine(line []byte, defaultTime time.Time) (*pricing.Query, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	dec.DisallowUnknownFields() // a misspelt "usage" must not price as zero
	var in priceLine
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return nil, errors.New("invalid JSON: trailing data")
	}
	if in.Model == "" && in.RequestModel == "" {
		return nil, errors.New(`missing "model"`)
	}
	q := &pricing.Query{Provider: in.Provider, ResponseModel: in.Model, RequestModel: in.RequestModel, At: defaultTime, Tier: in.Tier}
	if in.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, in.Time)
		if err != nil {
			return nil, fmt.Errorf("time %q: want RFC 3339", in.Time)
		}
		q.At = t
	}
	for k, v := range in.Usage {
		n, err := strconv.ParseInt(v.String(), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("usage %s = %s: want a whole number", k, v)
		}
		if err := q.Usage.Set(k, n); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func writeOut(w io.Writer, out priceOut) error {
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
