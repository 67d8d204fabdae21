package money

import (
	"testing"

	"github.com/cockroachdb/apd/v3"
)

func TestFormatCanonical(t *testing.T) {
	// Each input is parsed and re-rendered; the want column is the only
	// acceptable rendering in records and CLI output.
	cases := []struct{ in, want string }{
		{"0.000135", "0.000135"},
		{"0.02150000", "0.0215"},
		{"1.35E-4", "0.000135"},
		{"1e6", "1000000"},
		{"0E-7", "0"},
		{"-0", "0"},
		{"0", "0"},
		{"12.5000", "12.5"},
		{"100", "100"},
		{"-3.10", "-3.1"},
	}
	for _, c := range cases {
		d := MustParse(c.in)
		if got := Format(&d); got != c.want {
			t.Errorf("Format(%s) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, s := range []string{"", " ", "NaN", "Infinity", "1.2.3", "abc", "0x10"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) succeeded, want error", s)
		}
	}
}

func TestSumExact(t *testing.T) {
	// 0.1 + 0.2 is the classic float failure (0.30000000000000004).
	a, b, c := MustParse("0.1"), MustParse("0.2"), MustParse("0.0000000000000000000001")
	s, err := Sum(&a, &b, &c)
	if err != nil {
		t.Fatal(err)
	}
	if got := Format(&s); got != "0.3000000000000000000001" {
		t.Fatalf("Sum = %s", got)
	}
	want := MustParse("0.30000000000000000000010")
	if !Equal(&s, &want) {
		t.Fatal("Equal should ignore trailing zeros")
	}
}

func TestIsPlain(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "12": true, "0.0034": true, "10.50": true,
		"": false, ".5": false, "5.": false, "-1": false, "+1": false, "1e3": false,
		"1.2.3": false, " 1": false, "NaN": false, "Infinity": false, "1,5": false,
	} {
		if got := IsPlain(s); got != want {
			t.Errorf("IsPlain(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestParseNonNegative(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "-0": "0", "0.000135": "0.000135", " 12.50 ": "12.5", "1E+3": "1000"} {
		d, err := ParseNonNegative(in)
		if err != nil || Format(&d) != want || d.Negative {
			t.Errorf("ParseNonNegative(%q) = %s, %v; want %s", in, Format(&d), err, want)
		}
	}
	for in, want := range map[string]string{"-0.01": `negative decimal "-0.01"`, "NaN": `invalid decimal "NaN": not a finite number`, "": "empty decimal"} {
		if _, err := ParseNonNegative(in); err == nil || err.Error() != want {
			t.Errorf("ParseNonNegative(%q) error %v, want %s", in, err, want)
		}
	}
}

// TestArithmeticExact: Add, Sub and Mul never round, whatever the scale;
// an exponent out of range is an error, not a rounded amount.
func TestArithmeticExact(t *testing.T) {
	a, b := MustParse("10000000000000001"), MustParse("0.0000000000000001")
	var d apd.Decimal
	if err := Add(&d, &a, &b); err != nil || Format(&d) != "10000000000000001.0000000000000001" {
		t.Fatalf("Add = %s, %v", Format(&d), err)
	}
	if err := Sub(&d, &d, &a); err != nil || Format(&d) != "0.0000000000000001" {
		t.Fatalf("Sub = %s, %v", Format(&d), err)
	}
	x, y := MustParse("0.000000123456789123456789"), MustParse("98765432109876543210")
	if err := Mul(&d, &x, &y); err != nil || Format(&d) != "12193263124676.11632360920590112635269" {
		t.Fatalf("Mul = %s, %v", Format(&d), err)
	}
	huge := apd.New(1, apd.MaxExponent)
	if err := Mul(&d, huge, huge); err == nil {
		t.Fatalf("Mul overflow = %s, want an error", d.String())
	}
}

func TestIsInteger(t *testing.T) {
	for s, want := range map[string]bool{"12": true, "12.000": true, "1.2E+3": true, "0": true, "0.5": false, "12.0001": false, "1E-1": false} {
		d := MustParse(s)
		if got := IsInteger(&d); got != want {
			t.Errorf("IsInteger(%s) = %v, want %v", s, got, want)
		}
	}
}
