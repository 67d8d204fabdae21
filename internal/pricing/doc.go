// Package pricing prices GenAI calls from a genai-prices catalog with exact
// decimals. It reproduces the algorithm of the reference calculator
// @pydantic/genai-prices 0.1.8 (calcPrice): provider and model lookup,
// conditional (dated / time-of-day) prices, the unit lattice with leaf
// computation, tiered prices and per-request prices.
//
// Where things are:
//   - parse.go: the entry. Parse reads a catalog in any supported format;
//     Embedded is the built-in snapshot.
//   - source.go: where a catalog comes from (file, URL, snapshot) and a
//     LiveBook that keeps a book current with its sources. The processor's
//     start and refreshes and the CLI's --prices load through it; `prices
//     lint` and check-config hand file data to Parse directly.
//   - catalog.go: the catalog model (providers, models, dated prices, price sets).
//   - format_genaiprices.go, format_litellm.go, format_native.go: one file per
//     catalog format, each compiling its data into the model.
//   - priceset.go: compiling one price object (shared by the formats).
//   - problems.go: a catalog's defects with their line and column.
//   - normalize.go: provider names (after genaiconv.NormalizeProvider) to
//     catalog ids, and the spellings of one model name to look up.
//   - book.go, price.go, resolve.go, match.go: layering catalogs and pricing a call.
//   - revenue.go, ratecards.go: rate cards (what the customer is charged).
package pricing
