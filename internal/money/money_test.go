package money

import "testing"

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
