// Package usagejson is the JSON form of a usage record: one object per record,
// as the genai_ledger exporter writes it to Kafka messages, JSON-lines files
// and the dead-letter file. Keys are the ledger's column names; money stays
// exact decimal text. Schema (version 1):
//
//	{"event_id":"<48 hex>","time":"2026-03-04T05:06:07.500000000Z",
//	 "tenant_id":"acme","user_id":"u-1","session_id":"s-9","feature":"summarize",
//	 "service_name":"chat","environment":"prod","provider":"openai","operation":"chat",
//	 "request_model":"gpt-4o-mini","response_model":"gpt-4o-mini-2024-07-18",
//	 "catalog_provider":"openai","catalog_model":"gpt-4o-mini",
//	 "input_tokens":500,"output_tokens":100,"cache_read_tokens":200,
//	 "cache_write_tokens":10,"reasoning_tokens":20,
//	 "input_audio_tokens":0,"output_audio_tokens":0,"cache_write_1h_tokens":0,
//	 "cost_usd":"0.000135","reported_cost_usd":"0.00014","cost_reconciliation":"differs",
//	 "cost_source":"catalog","revenue_usd":"0.000162",
//	 "price_ref":"...","service_tier":"flex","plan":"pro","token_convention":"inclusive",
//	 "pricing_status":"priced","completion":"complete","pricing_detail":"...","billable":true,
//	 "billable_reason":"...","trace_id":"<32 hex>","span_id":"<16 hex>","credits":"2.106"}
//
// event_id, time, the eight token counts, pricing_status and billable are
// always present; every other key is left out when its value is empty (the
// ledger's NULL). Version 2 added the audio and 1h cache-write counts,
// completion, cost_reconciliation and cost_source; a version-1 object (no
// such keys) reads with zero audio and 1h counts. Version 3 added credits
// (exact decimal text, after span_id), absent when the call's rate card is
// not in credits. cost_usd is absent when the call is not priced: it is never
// a silent 0. time is UTC with a fixed nine-digit fraction, so that text order
// is time order.
package usagejson

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// SchemaVersion is the version of the schema above. Kafka messages carry it in
// the genaimeter.schema_version header. A field's usage.Field.Since is the
// version that added it.
const SchemaVersion = 3

// keys are the `,"name":` prefixes of the fields, built once.
var keys = func() []string {
	k := make([]string, len(usage.Fields()))
	for i, f := range usage.Fields() {
		k[i] = `,"` + f.Name + `":`
	}
	return k
}()

// Append appends the JSON object of r to dst, without a trailing newline: the
// fields of usage.Fields in order, a required one always, any other when set.
// It is hand-written rather than encoding/json to stay off reflection on the
// hot path; Unmarshal reads it back with encoding/json, and a test holds the
// two together.
func Append(dst []byte, r *usage.Record) []byte {
	dst = append(dst, '{')
	fields := usage.Fields()
	for i := range fields {
		f := &fields[i] // not a copy of the Field per value
		key := keys[i]
		if i == 0 {
			key = key[1:] // no comma before the first
		}
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			if v := *f.Str(r); v != "" || f.Required {
				dst = appendString(append(dst, key...), v)
			}
		case usage.KindCount:
			dst = strconv.AppendInt(append(dst, key...), *f.Int(r), 10)
		case usage.KindFlag:
			dst = strconv.AppendBool(append(dst, key...), *f.Bool(r))
		case usage.KindTime:
			dst = append(append(dst, key...), '"')
			dst = f.Time(r).UTC().AppendFormat(dst, usage.TimeLayout)
			dst = append(dst, '"')
		}
	}
	return append(dst, '}')
}

func appendOpt(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	return appendString(append(dst, key...), v)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string with encoding/json's escaping:
// quotes, backslashes and control characters escaped, <, > and & as \u003c
// etc. (safe to embed in HTML), U+2028/U+2029 escaped, and invalid UTF-8
// replaced by U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// Unmarshal reads a record written by Append. It fails when a key that is
// always written is missing (names first, then counts and flags, then the
// time), so that a truncated or foreign message is not read as a zero-token
// call. A required key of a later schema version than 1 may be missing: it
// reads as 0.
func Unmarshal(data []byte) (usage.Record, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return usage.Record{}, fmt.Errorf("usagejson: %w", err)
	}
	fields := usage.Fields()
	for _, k := range [...]usage.Kind{usage.KindText, usage.KindCount, usage.KindFlag} {
		for _, f := range fields {
			if f.Kind != k || !f.Required || f.Since > 1 {
				continue
			}
			if v, ok := obj[f.Name]; ok && string(v) != "null" && (k != usage.KindText || string(v) != `""`) {
				continue
			}
			if k == usage.KindCount {
				return usage.Record{}, fmt.Errorf("usagejson: missing a token count")
			}
			return usage.Record{}, fmt.Errorf("usagejson: missing %s", f.Name)
		}
	}
	var r usage.Record
	for _, f := range fields {
		v, ok := obj[f.Name]
		if f.Kind == usage.KindTime && (!ok || string(v) == "null") {
			v, ok = json.RawMessage(`""`), true // fails to parse: a record has a time
		}
		if !ok || string(v) == "null" {
			continue
		}
		var err error
		switch f.Kind {
		case usage.KindText, usage.KindDecimal:
			err = json.Unmarshal(v, f.Str(&r))
		case usage.KindCount:
			err = json.Unmarshal(v, f.Int(&r))
		case usage.KindFlag:
			err = json.Unmarshal(v, f.Bool(&r))
		case usage.KindTime:
			var s string
			if err = json.Unmarshal(v, &s); err == nil {
				var t time.Time
				if t, err = time.Parse(time.RFC3339Nano, s); err == nil {
					*f.Time(&r) = t.UTC()
				}
			}
		}
		if err != nil {
			return usage.Record{}, fmt.Errorf("usagejson: %s: %w", f.Name, err)
		}
	}
	return r, nil
}
