package pricing

import (
	"testing"
	"time"
)

// TestProviderNote: a provider the catalog does not know is priced by the
// provider whose model_match accepts the model, and the result says so, in a
// Catalog and in a Book; a known provider or none gives no note.
func TestProviderNote(t *testing.T) {
	at := time.Date(2025, 6, 15, 0, 0, 0, 0, time.UTC)
	book, err := NewBook([]*Catalog{Embedded()}, BookOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const note = `provider "acme-gateway" is not in the catalog: priced by openai, whose model_match accepts "gpt-4o"`
	for _, tc := range []struct{ provider, want string }{{"acme-gateway", note}, {"openai", ""}, {"", ""}} {
		for name, price := range map[string]func(*Query, *Result){"catalog": Embedded().Price, "book": book.Price} {
			q := &Query{Provider: tc.provider, ResponseModel: "gpt-4o", At: at}
			if err := q.Usage.Set("input_tokens", 10); err != nil {
				t.Fatal(err)
			}
			var r Result
			price(q, &r)
			if r.Status != Priced || r.ProviderID != "openai" || r.ProviderNote != tc.want {
				t.Errorf("%s, provider %q: status %v provider %q note %q, want note %q", name, tc.provider, r.Status, r.ProviderID, r.ProviderNote, tc.want)
			}
		}
	}
}
