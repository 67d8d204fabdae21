package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// TestLineReaderLimit: a line of exactly max bytes is read, one byte more is
// skipped with its length, with or without a final newline, and the next
// line is read either way.
func TestLineReaderLimit(t *testing.T) {
	in := "12345\n123456\n\n1234567\nab\n123456"
	lr := newLineReader(strings.NewReader(in), 5)
	type got struct {
		n       int
		line    string
		skipped int64
	}
	want := []got{{1, "12345", 0}, {2, "", 6}, {3, "", 0}, {4, "", 7}, {5, "ab", 0}, {6, "", 6}}
	for i, w := range want {
		line, skipped, err := lr.next()
		if err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if g := (got{lr.n, string(line), skipped}); g != w {
			t.Fatalf("got %+v, want %+v", g, w)
		}
	}
	if _, _, err := lr.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last line: %v, want EOF", err)
	}
}
