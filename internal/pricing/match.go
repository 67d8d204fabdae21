package pricing

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// matcher is one match clause of genai-prices (reference function `f`).
// equals/starts_with/ends_with/contains compare case-insensitively; regex is a
// JavaScript RegExp tested, case-sensitively, against the (already lowercased)
// name. regexp2 in ECMAScript mode is used because some patterns rely on
// look-ahead, which Go's RE2-based regexp does not support.
type matcher struct {
	op   string // "or", "and", "equals", "starts_with", "ends_with", "contains", "regex"
	lit  string // lowercased literal, or the regex source
	re   *regexp2.Regexp
	subs []matcher
}

// regexTimeout bounds one regex evaluation: the patterns are data, and a
// pathological one must not stall the pipeline.
const regexTimeout = 100 * time.Millisecond

func parseMatcher(raw json.RawMessage) (matcher, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return matcher{}, fmt.Errorf("match clause must be an object: %s", short(raw))
	}
	// Same precedence as the reference when several keys are present.
	for _, op := range []string{"or", "and"} {
		if v, ok := obj[op]; ok {
			var list []json.RawMessage
			if err := json.Unmarshal(v, &list); err != nil {
				return matcher{}, fmt.Errorf("%s: must be a list of match clauses", op)
			}
			m := matcher{op: op}
			for i, s := range list {
				sub, err := parseMatcher(s)
				if err != nil {
					return matcher{}, fmt.Errorf("%s[%d]: %w", op, i, err)
				}
				m.subs = append(m.subs, sub)
			}
			return m, nil
		}
	}
	for _, op := range []string{"equals", "starts_with", "ends_with", "contains", "regex"} {
		v, ok := obj[op]
		if !ok {
			continue
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return matcher{}, fmt.Errorf("%s: must be a string", op)
		}
		if op != "regex" {
			return matcher{op: op, lit: strings.ToLower(s)}, nil
		}
		re, err := regexp2.Compile(s, regexp2.ECMAScript)
		if err != nil {
			return matcher{}, fmt.Errorf("regex %q: %w", s, err)
		}
		re.MatchTimeout = regexTimeout
		return matcher{op: op, lit: s, re: re}, nil
	}
	return matcher{}, fmt.Errorf("unknown match clause %s", short(raw))
}

// match tests name, which the caller has lowercased and trimmed.
func (m *matcher) match(name string) bool {
	switch m.op {
	case "or":
		for i := range m.subs {
			if m.subs[i].match(name) {
				return true
			}
		}
		return false
	case "and":
		for i := range m.subs {
			if !m.subs[i].match(name) {
				return false
			}
		}
		return true
	case "equals":
		return name == m.lit
	case "starts_with":
		return strings.HasPrefix(name, m.lit)
	case "ends_with":
		return strings.HasSuffix(name, m.lit)
	case "contains":
		return strings.Contains(name, m.lit)
	case "regex":
		ok, err := m.re.MatchString(name)
		return ok && err == nil
	}
	return false
}

func (m *matcher) String() string {
	switch m.op {
	case "or", "and":
		parts := make([]string, len(m.subs))
		for i := range m.subs {
			parts[i] = m.subs[i].String()
		}
		return m.op + "(" + strings.Join(parts, ", ") + ")"
	case "":
		return "none"
	}
	return fmt.Sprintf("%s %q", m.op, m.lit)
}

// normalizeDates rewrites compact date suffixes -YYYYMMDD into -YYYY-MM-DD
// when followed by '-', ':' or the end and when the date exists (reference
// `xe`, regex /(-)(20\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=-|:|$)/g).
func normalizeDates(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i+9 <= len(s); i++ {
		if s[i] != '-' {
			continue
		}
		d := s[i+1 : i+9]
		if !allDigits(d) || d[0] != '2' || d[1] != '0' {
			continue
		}
		if i+9 < len(s) && s[i+9] != '-' && s[i+9] != ':' {
			continue
		}
		y, mo, da := atoi(d[0:4]), atoi(d[4:6]), atoi(d[6:8])
		if mo < 1 || mo > 12 || da < 1 || da > 31 {
			continue
		}
		t := time.Date(y, time.Month(mo), da, 0, 0, 0, 0, time.UTC)
		if t.Year() != y || int(t.Month()) != mo || t.Day() != da {
			continue
		}
		b.WriteString(s[last : i+1])
		b.WriteString(d[0:4] + "-" + d[4:6] + "-" + d[6:8])
		last = i + 9
		i += 8
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func short(raw []byte) string {
	if len(raw) > 80 {
		return string(raw[:80]) + "…"
	}
	return string(raw)
}
