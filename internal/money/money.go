// Package money holds the exact-decimal helpers shared by genaimeter: every
// amount of US dollars is an apd.Decimal and crosses process boundaries only in
// the canonical text form produced by Format (no exponent, no trailing zeros).
package money

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

// exact is the one context for money arithmetic, used through Add, Sub, Mul
// and Sum: with precision 0 apd performs Add, Sub and Mul exactly (and
// reports an error for Quo, which is the point: division by a non-power of
// ten has no exact result). The Inexact and Rounded traps turn any rounding
// that could still happen into an error instead of a wrong amount.
var exact = func() apd.Context {
	c := apd.BaseContext
	c.Traps |= apd.Inexact | apd.Rounded
	return c
}()

// Add sets d = x + y exactly; an error (exponent out of range) leaves no
// rounded amount behind silently.
func Add(d, x, y *apd.Decimal) error {
	_, err := exact.Add(d, x, y)
	return err
}

// Sub sets d = x - y exactly.
func Sub(d, x, y *apd.Decimal) error {
	_, err := exact.Sub(d, x, y)
	return err
}

// Mul sets d = x × y exactly.
func Mul(d, x, y *apd.Decimal) error {
	_, err := exact.Mul(d, x, y)
	return err
}

// IsInteger reports whether d is a whole number (12, 12.000, 1.2E+3).
func IsInteger(d *apd.Decimal) bool {
	if d.Form != apd.Finite {
		return false
	}
	var r apd.Decimal
	r.Reduce(d)
	return r.Exponent >= 0
}

// Format renders d in canonical form: plain notation, no exponent, trailing
// zeros removed, "0" for any zero ("-0" is never produced). It does not modify d.
func Format(d *apd.Decimal) string {
	if d.Form != apd.Finite {
		return d.String()
	}
	var r apd.Decimal
	r.Reduce(d)
	if r.IsZero() {
		return "0"
	}
	return r.Text('f')
}

// Parse reads a decimal literal ("0.000135", "12", "1.5e-6"). It rejects
// NaN, infinities and anything that is not a plain number, so that a malformed
// price or amount can never turn into a silent zero.
func Parse(s string) (apd.Decimal, error) {
	var d apd.Decimal
	t := strings.TrimSpace(s)
	if t == "" {
		return d, errors.New("empty decimal")
	}
	if _, _, err := d.SetString(t); err != nil {
		return d, fmt.Errorf("invalid decimal %q: %w", s, err)
	}
	if d.Form != apd.Finite {
		return d, fmt.Errorf("invalid decimal %q: not a finite number", s)
	}
	return d, nil
}

// ParseNonNegative is Parse for amounts that cannot be negative (prices,
// costs, rates): "-0" reads as 0, anything below zero is an error.
func ParseNonNegative(s string) (apd.Decimal, error) {
	d, err := Parse(s)
	if err != nil {
		return d, err
	}
	if d.Negative {
		if !d.IsZero() {
			return d, fmt.Errorf("negative decimal %q", s)
		}
		d.Negative = false
	}
	return d, nil
}

// MustParse is Parse for literals known to be valid (tests, constants).
func MustParse(s string) apd.Decimal {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Sum returns the exact sum of xs.
func Sum(xs ...*apd.Decimal) (apd.Decimal, error) {
	var s apd.Decimal
	for _, x := range xs {
		if err := Add(&s, &s, x); err != nil {
			return s, err
		}
	}
	return s, nil
}

// Equal reports whether a and b are numerically equal (0.10 == 0.1).
func Equal(a, b *apd.Decimal) bool { return a.Cmp(b) == 0 }

// IsPlain reports whether s is a finite, non-negative decimal in plain
// notation: digits with at most one '.' that has digits on both sides; no
// sign, exponent or space. Such text can be used verbatim as an exact amount
// (summed with Parse, stored as numeric). It does not allocate.
func IsPlain(s string) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && digits > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}
