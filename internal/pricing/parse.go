package pricing

// The entry: Parse reads a catalog in any supported format, Embedded is the
// built-in snapshot.

import (
	"fmt"
	"strings"
	"sync"

	"github.com/genaimeter/genaimeter/internal/pricing/genaiprices"
)

// Catalog formats.
const (
	// FormatGenAIPrices is data.json of github.com/pydantic/genai-prices.
	FormatGenAIPrices = "genai-prices"
	// FormatLiteLLM is LiteLLM's model_prices_and_context_window.json.
	FormatLiteLLM = "litellm"
	// FormatNative is genaimeter's own YAML format for overrides and
	// contracts (custom models, dated prices, discounts).
	FormatNative = "genaimeter"
)

// Formats lists the supported catalog formats.
func Formats() []string { return []string{FormatGenAIPrices, FormatLiteLLM, FormatNative} }

func knownFormat(f string) bool {
	for _, k := range Formats() {
		if k == f {
			return true
		}
	}
	return false
}

// Parse reads a catalog in the given format. It returns the catalog and its
// warnings, or an error (a *ParseError listing every problem with its
// location) when anything would make a price wrong. source names the catalog
// in price references and messages. The processor's start and `genaimeter
// prices lint` both go through here, so they refuse exactly the same files.
func Parse(format string, data []byte, source string) (*Catalog, []Problem, error) {
	var c *Catalog
	var probs []Problem
	switch format {
	case FormatGenAIPrices:
		c, probs = parseGenAIPrices(data, source)
	case FormatLiteLLM:
		c, probs = parseLiteLLM(data, source)
	case FormatNative:
		c, probs = parseNative(data, source)
	default:
		return nil, nil, fmt.Errorf("unsupported format %q (supported: %s)", format, strings.Join(Formats(), ", "))
	}
	if err := problemsError(probs); err != nil {
		return nil, probs, err
	}
	return c, probs, nil
}

// Lint reports every problem of a catalog (errors and warnings), in file
// order; none means the catalog loads cleanly.
func Lint(format string, data []byte) []Problem {
	_, probs, err := Parse(format, data, "lint")
	if err != nil && probs == nil {
		return []Problem{{Message: err.Error()}}
	}
	return probs
}

var (
	embeddedOnce sync.Once
	embedded     *Catalog
)

// Embedded returns the catalog parsed from the embedded genai-prices snapshot.
// It is parsed once; the snapshot is tested, so a parse failure is a build
// defect and panics.
func Embedded() *Catalog {
	embeddedOnce.Do(func() {
		c, err := ParseGenAIPrices(genaiprices.Data, "embedded:"+genaiprices.Version)
		if err != nil {
			panic("pricing: embedded catalog: " + err.Error())
		}
		c.version, c.refBase = genaiprices.Version, c.source
		c.setRefs()
		embedded = c
	})
	return embedded
}
