package main

import (
	"bufio"
	"errors"
	"io"
)

// maxLineBytes bounds one JSONL input line: a call is a few hundred bytes, so
// a longer line is a mistake (or an attack) and is not held in memory.
const maxLineBytes = 4 << 20

// lineReader reads newline-separated lines of at most max bytes. Unlike
// bufio.Scanner it does not stop at a longer line: it skips it, saying how long
// it was, so that the lines after it are still read.
type lineReader struct {
	r   *bufio.Reader
	max int
	buf []byte
	n   int // number of the line last returned, from 1
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its newline. When the line is longer
// than max, line is nil and skipped is its length (the line has been
// consumed). err is io.EOF after the last line.
func (lr *lineReader) next() (line []byte, skipped int64, err error) {
	lr.buf = lr.buf[:0]
	var total int64
	for {
		chunk, err := lr.r.ReadSlice('\n')
		total += int64(len(chunk))
		if total <= int64(lr.max)+1 { // +1: the newline does not count
			lr.buf = append(lr.buf, chunk...)
		}
		switch {
		case err == nil || (errors.Is(err, io.EOF) && total > 0):
			lr.n++
			if n := len(chunk); n > 0 && chunk[n-1] == '\n' {
				total--
				if m := len(lr.buf); m > 0 && lr.buf[m-1] == '\n' {
					lr.buf = lr.buf[:m-1]
				}
			}
			if total > int64(lr.max) {
				return nil, total, nil
			}
			return lr.buf, 0, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			return nil, 0, err
		}
	}
}
