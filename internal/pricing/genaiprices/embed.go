// Package genaiprices embeds the snapshot of the genai-prices price database
// (MIT licence, Pydantic; see LICENSE and the top-level NOTICE) that genaimeter
// uses as its default catalog, plus the unit lattice of the reference
// calculator @pydantic/genai-prices 0.1.8 (the object `J` of its dist/index.js).
package genaiprices

import _ "embed"

// Data is data.json as bundled in @pydantic/genai-prices 0.1.8 (model
// descriptions removed).
//
//go:embed data.json
var Data []byte

// Units maps each usage key to its dimensions, its divisor `per` and the
// price key that prices it.
//
//go:embed units.json
var Units []byte

// Version names the snapshot, for logs and record provenance.
const Version = "genai-prices@0.1.8"
