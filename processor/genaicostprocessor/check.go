package genaicostprocessor // import "github.com/genaimeter/genaimeter/processor/genaicostprocessor"

import (
	"fmt"
	"os"

	"github.com/genaimeter/genaimeter/internal/configcheck"
	"github.com/genaimeter/genaimeter/internal/filemap"
	"github.com/genaimeter/genaimeter/internal/pricing"
)

// CheckOffline makes the checks Start makes and Validate must not (it is
// pure): every price file exists and parses without errors (a negative
// price, an unknown key...), and the plans file is a valid map. Keys are
// relative to the processor's configuration. URL sources are not fetched
// (the check is offline); the storage extension is checked by the caller,
// which sees the extensions.
func (cfg *Config) CheckOffline() configcheck.Problems {
	var ps configcheck.Problems
	for i, s := range cfg.Pricing.Sources {
		if s.Embedded || s.Path == "" {
			continue
		}
		key := fmt.Sprintf("pricing.sources[%d].path", i)
		data, err := os.ReadFile(s.Path)
		if err != nil {
			ps.Add(key, err)
			continue
		}
		_, probs, err := pricing.Parse(s.Format, data, s.Path)
		for _, p := range probs {
			switch {
			case p.Warning: // loaded all the same (logged at start)
			case p.Line > 0:
				ps.Add(key, fmt.Errorf("%s:%d:%d: %s", s.Path, p.Line, p.Column, p.Message))
			default:
				ps.Add(key, fmt.Errorf("%s: %s", s.Path, p.Message))
			}
		}
		if err != nil && !hasError(probs) {
			ps.Add(key, fmt.Errorf("%s: %w", s.Path, err))
		}
	}
	if f := cfg.Billing.Plans.File; f != "" {
		if _, err := filemap.Load(f); err != nil {
			ps.Add("billing.plans.file", err)
		}
	}
	return ps
}

func hasError(probs []pricing.Problem) bool {
	for _, p := range probs {
		if !p.Warning {
			return true
		}
	}
	return false
}
