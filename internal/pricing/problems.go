package pricing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/genaimeter/genaimeter/internal/printable"
)

// Problem is one defect of a catalog, with its location in the file.
type Problem struct {
	Line, Column int // 1-based; 0 when unknown
	Message      string
	// Warning: the catalog still loads (for example a LiteLLM cost key this
	// engine does not apply); otherwise the catalog is refused.
	Warning bool

	at     string // JSON path of the value ("[3].models[5]", `"gpt-4o".input_cost_per_token`), resolved to Line/Column
	offset int64  // byte offset, when known directly (-1: use at)
}

func (p Problem) String() string {
	sev := "error"
	if p.Warning {
		sev = "warning"
	}
	if p.Line == 0 {
		return sev + ": " + p.Message
	}
	return fmt.Sprintf("%d:%d: %s: %s", p.Line, p.Column, sev, p.Message)
}

// ParseError is a catalog refused for its errors; Problems lists all of them
// (warnings included), in file order.
type ParseError struct{ Problems []Problem }

func (e *ParseError) Error() string {
	var b strings.Builder
	n := 0
	for _, p := range e.Problems {
		if p.Warning {
			continue
		}
		if n > 0 {
			b.WriteString("; ")
		}
		n++
		if p.Line > 0 {
			fmt.Fprintf(&b, "%d:%d: ", p.Line, p.Column)
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

func problemsError(probs []Problem) error {
	for _, p := range probs {
		if !p.Warning {
			return &ParseError{Problems: probs}
		}
	}
	return nil
}

// WriteProblems renders problems one per line as "name:line:col: severity: message".
func WriteProblems(w io.Writer, name string, probs []Problem) {
	for _, p := range probs {
		// A message quotes the catalog file: escaped, a newline in it cannot
		// forge a line of the report.
		fmt.Fprintf(w, "%s:%s\n", printable.Escape(name), printable.Escape(p.String()))
	}
}

// locateJSON sets Line and Column of each problem from its JSON path, and
// sorts the problems in file order. The path index is built only when there
// is something to locate.
func locateJSON(data []byte, probs []Problem) []Problem {
	if len(probs) == 0 {
		return probs
	}
	offs := jsonOffsets(data, 3)
	for i := range probs {
		p := &probs[i]
		off, ok := int64(-1), false
		if p.offset > 0 {
			off, ok = p.offset, true
		} else {
			// The deepest recorded ancestor of the path.
			for at := p.at; ; {
				if off, ok = offs[at]; ok || at == "" {
					break
				}
				at = parentPath(at)
			}
		}
		if ok && off >= 0 {
			p.Line, p.Column = lineCol(data, off)
		}
	}
	sortProblems(probs)
	return probs
}

func sortProblems(probs []Problem) {
	sort.SliceStable(probs, func(a, b int) bool {
		if probs[a].Line != probs[b].Line {
			return probs[a].Line < probs[b].Line
		}
		return probs[a].Column < probs[b].Column
	})
}

// parentPath drops the last segment of a JSON path ("[3].models[5]" →
// "[3].models", `"k".x` → `"k"`).
func parentPath(at string) string {
	i := strings.LastIndexAny(at, ".[")
	if i <= 0 {
		return ""
	}
	return at[:i]
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := int(off) - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// jsonOffsets maps the path of every value up to maxDepth ("[3]",
// "[3].models[5]", `"gpt-4o".input_cost_per_token`) to the byte offset where
// it starts (for an object member: where its key starts).
func jsonOffsets(data []byte, maxDepth int) map[string]int64 {
	type frame struct {
		array     bool
		idx       int
		path      string
		expectKey bool
	}
	out := map[string]int64{}
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []frame
	skip := func(off int64) int64 {
		for off < int64(len(data)) {
			switch data[off] {
			case ' ', '\t', '\r', '\n', ',', ':':
				off++
				continue
			}
			break
		}
		return off
	}
	var memberPath string
	var memberOff int64
	for {
		off := skip(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && !stack[len(stack)-1].array {
				stack[len(stack)-1].expectKey = true
			}
			continue
		}
		// A key of an object.
		if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].expectKey {
			top := &stack[n-1]
			key, _ := tok.(string)
			seg := strconv.Quote(key)
			if top.path != "" {
				// Nested members read as .name, top-level ones as "name".
				seg = "." + key
			}
			memberPath, memberOff = top.path+seg, off
			top.expectKey = false
			continue
		}
		// A value: its path.
		var path string
		start := off
		if n := len(stack); n > 0 {
			top := &stack[n-1]
			if top.array {
				path = top.path + "[" + strconv.Itoa(top.idx) + "]"
				top.idx++
			} else {
				path, start = memberPath, memberOff
				top.expectKey = true
			}
		}
		if len(stack) <= maxDepth && (len(stack) > 0) {
			if _, dup := out[path]; !dup {
				out[path] = start
			}
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, frame{array: d == '[', path: path, expectKey: d == '{'})
		}
	}
}
