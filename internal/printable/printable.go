// Package printable makes untrusted text safe to print in a terminal table.
//
// Tenant ids, model names and catalog entries come from clients and files the
// operator does not control. Printed as they are, a newline in a tenant id
// starts a forged row of `genaimeter usage`, and an escape sequence or a bidi
// override rewrites what the operator reads. Escape writes such characters as
// Go escapes (\n, \x1b, \u202e) so that every cell stays on its line and reads
// as what it is.
package printable

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Escape returns s with every character that is not printable (control
// characters, Unicode format characters such as bidi overrides, line and
// paragraph separators, invalid UTF-8) written as a Go escape. A backslash is
// doubled, so that an escaped cell never reads the same as a different value
// that happens to contain the escape's text. A string that needs nothing is
// returned as it is, without allocating.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == '\\' || !isPrintASCII(c) {
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !unicode.IsPrint(r) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			writeHex(&b, uint64(s[i]), 2)
		case r == '\\':
			b.WriteString(`\\`)
		case r < utf8.RuneSelf && isPrintASCII(byte(r)), r >= utf8.RuneSelf && unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			writeEscape(&b, r)
		}
		i += size
	}
	return b.String()
}

func isPrintASCII(c byte) bool { return c >= 0x20 && c < 0x7f }

func writeEscape(b *strings.Builder, r rune) {
	switch r {
	case '\a':
		b.WriteString(`\a`)
	case '\b':
		b.WriteString(`\b`)
	case '\f':
		b.WriteString(`\f`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	case '\v':
		b.WriteString(`\v`)
	default:
		switch {
		case r < utf8.RuneSelf:
			b.WriteString(`\x`)
			writeHex(b, uint64(r), 2)
		case r <= 0xffff:
			b.WriteString(`\u`)
			writeHex(b, uint64(r), 4)
		default:
			b.WriteString(`\U`)
			writeHex(b, uint64(r), 8)
		}
	}
}

func writeHex(b *strings.Builder, v uint64, digits int) {
	s := strconv.FormatUint(v, 16)
	for n := len(s); n < digits; n++ {
		b.WriteByte('0')
	}
	b.WriteString(s)
}
