package pricing

import (
	"fmt"
	"io"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/printable"
)

// Explanation says how a price was obtained: for `genaimeter price --explain`
// and for debugging disputed records. It is built by Explain, off the hot path.
type Explanation struct {
	ProviderID, ProviderName string
	ProviderMatchedBy        string // "id", "provider_match", "model_match" (optionally after "litellm prefix, ")
	ProviderNote             string // why ProviderID priced a call that named an unknown provider
	ModelOwner               string // provider that lists the model, when reached via fallback_model_providers
	ModelID, ModelName       string
	ModelMatch               string // the model's match rule
	MatchedName              string // normalised (lowercased, date-normalised) name that matched
	PriceEntry               int    // index of the conditional price applied
	PriceEntries             int    // number of conditional prices (0: a single unconditional price)
	Constraint               string // constraint of the applied entry
	Tiered                   bool
	TierInput                int64 // input_tokens used to choose tiers
	Buckets                  []Bucket

	Ref           string // price reference of the entry applied
	TierRequested string // service tier of the query, as given
	Tier          string // service tier whose price applied ("" standard)

	// Set by Book.Explain only.
	Layers, Layer           int    // number of layers, index of the one that priced (0 lowest)
	Source, Version, Format string // of that layer
	Normalized              string // how the model name was read, "" as given
	Discount                string // discount applied, "" none
	BeforeDiscount          apd.Decimal
}

// Bucket is one priced unit of the call.
type Bucket struct {
	UsageKey, PriceKey string
	Quantity           int64  // leaf quantity charged (after more specific units were taken out)
	Price              string // price literal applied, per Per units
	Per                int64
	Tier               string // "" untiered, "base", or the tier threshold crossed
	Cost               apd.Decimal
}

func (e *Explanation) fillMatch(r *resolution) {
	e.ProviderID, e.ProviderName, e.ProviderMatchedBy, e.ProviderNote = r.prov.id, r.prov.name, r.how, r.provNote
	if r.owner != nil && r.owner != r.prov {
		e.ModelOwner = r.owner.id
	}
	e.ModelID, e.ModelName, e.ModelMatch, e.MatchedName = r.model.id, r.model.name, r.model.match.String(), r.name
}

// Explain prices q like Price and also returns how.
func (c *Catalog) Explain(q *Query, r *Result) *Explanation {
	ex := &Explanation{}
	c.price(q, r, ex)
	return ex
}

// Write renders the explanation for humans. Names come from catalog files
// and the query: each is escaped (printable.Escape) so that a newline in a
// model name cannot forge a line of the explanation.
func (e *Explanation) Write(w io.Writer, r *Result) {
	q := printable.Escape
	fmt.Fprintf(w, "status:    %s\n", r.Status)
	if r.Status == UnknownModel {
		fmt.Fprintf(w, "reason:    %s\n", q(r.Detail))
		return
	}
	if e.Layers > 0 {
		fmt.Fprintf(w, "source:    %s (%s, %s), layer %d of %d\n", q(e.Source), q(e.Format), q(e.Version), e.Layer+1, e.Layers)
	}
	if e.Normalized != "" {
		fmt.Fprintf(w, "name:      %s\n", q(e.Normalized))
	}
	fmt.Fprintf(w, "provider:  %s (%s), matched by %s\n", q(e.ProviderID), q(e.ProviderName), q(e.ProviderMatchedBy))
	if e.ProviderNote != "" {
		fmt.Fprintf(w, "           %s\n", q(e.ProviderNote))
	}
	fmt.Fprintf(w, "model:     %s (%s), rule %s, matched %q", q(e.ModelID), q(e.ModelName), q(e.ModelMatch), e.MatchedName)
	if e.ModelOwner != "" {
		fmt.Fprintf(w, " via fallback provider %s", q(e.ModelOwner))
	}
	fmt.Fprintln(w)
	if r.Status == InvalidUsage {
		fmt.Fprintf(w, "reason:    %s\n", q(r.Detail))
		return
	}
	if e.PriceEntries == 0 {
		fmt.Fprintln(w, "price:     single price entry")
	} else {
		fmt.Fprintf(w, "price:     entry %d of %d (%s)\n", e.PriceEntry, e.PriceEntries, q(e.Constraint))
	}
	switch {
	case e.Tier != "":
		fmt.Fprintf(w, "service:   %s tier price\n", q(e.Tier))
	case NormalizeTier(e.TierRequested) != "":
		fmt.Fprintf(w, "service:   %s tier requested, no such price in the entry: standard price\n", q(e.TierRequested))
	}
	if e.Tiered {
		fmt.Fprintf(w, "tiers:     chosen by input_tokens = %d\n", e.TierInput)
	}
	for i := range e.Buckets {
		b := &e.Buckets[i]
		tier := ""
		if b.Tier != "" {
			tier = " [" + q(b.Tier) + "]"
		}
		fmt.Fprintf(w, "  %-28s %12d × %s / %d%s = %s\n", q(b.UsageKey), b.Quantity, q(b.Price), b.Per, tier, money.Format(&b.Cost))
	}
	if e.Discount != "" {
		fmt.Fprintf(w, "subtotal:  %s USD\n", money.Format(&e.BeforeDiscount))
		fmt.Fprintf(w, "discount:  %s\n", q(e.Discount))
	}
	if e.Ref != "" && e.Layers > 0 {
		fmt.Fprintf(w, "ref:       %s\n", q(e.Ref))
	}
	fmt.Fprintf(w, "total:     %s USD\n", money.Format(&r.Cost))
}
