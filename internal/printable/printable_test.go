package printable

import (
	"strconv"
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"acme":                     "acme",
		"Zürich café 東京":           "Zürich café 東京",
		"a b":                      "a b",
		"acme\nglobex  gpt-4o  99": `acme\nglobex  gpt-4o  99`,
		"a\r\tb\x00\x1b[2Jc\x7f":   `a\r\tb\x00\x1b[2Jc\x7f`,
		"dom\\user":                `dom\\user`,
		`a\nb`:                     `a\\nb`,
		"admin\u202e\u2066x":       `admin\u202e\u2066x`,
		"line\u2028sep\u0085":      `line\u2028sep\u0085`,
		"bad\xffutf8":              `bad\xffutf8`,
		"tag\U000E0041":            `tag\U000e0041`,
		"nbsp\u00a0":               `nbsp\u00a0`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestEscapeNoAllocWhenClean(t *testing.T) {
	s := "acme-corp/gpt-4o-mini 2026"
	if n := testing.AllocsPerRun(100, func() { _ = Escape(s) }); n != 0 {
		t.Fatalf("%v allocs for a clean string", n)
	}
}

// FuzzEscape: the result is valid, printable UTF-8 without control
// characters, and unescaping it (as a Go string literal) gives the input back.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "acme", "a\nb", "\\", "\xff", "\u202e", "東京\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e := Escape(s)
		if !utf8.ValidString(e) {
			t.Fatalf("Escape(%q) = %q: invalid UTF-8", s, e)
		}
		for _, r := range e {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
				t.Fatalf("Escape(%q) = %q: contains %U", s, e, r)
			}
		}
		back, err := strconv.Unquote(`"` + quoteInner(e) + `"`)
		if err != nil || back != s {
			t.Fatalf("Escape(%q) = %s does not read back (%q, %v)", s, e, back, err)
		}
	})
}

// quoteInner escapes the double quotes Escape leaves as they are, so the
// result reads as a Go string literal.
func quoteInner(e string) string {
	out := make([]byte, 0, len(e))
	for i := 0; i < len(e); i++ {
		if e[i] == '"' {
			out = append(out, '\\')
		}
		out = append(out, e[i])
	}
	return string(out)
}
