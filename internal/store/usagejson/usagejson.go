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
//	 "billable_reason":"...","trace_id":"<32 hex>","span_id":"<16 hex>"}
//
// event_id, time, the eight token counts, pricing_status and billable are
// always present; every other key is left out when its value is empty (the
// ledger's NULL). Version 2 added the audio and 1h cache-write counts,
// completion, cost_reconciliation and cost_source; a version-1 object (no
// such keys) reads with zero audio and 1h counts. cost_usd is absent when the call is not priced: it is never
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
// the genaimeter.schema_version header.
const SchemaVersion = 2

// TimeLayout is the layout of "time" (the ledger's, see sqlitestore.TimeLayout).
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Append appends the JSON object of r to dst, without a trailing newline. It
// is hand-written rather than encoding/json to stay off reflection on the hot
// path; Unmarshal reads it back with encoding/json, and a test holds the two
// together.
func Append(dst []byte, r *usage.Record) []byte {
	dst = append(dst, `{"event_id":`...)
	dst = appendString(dst, r.EventID)
	dst = append(dst, `,"time":"`...)
	dst = r.Time.UTC().AppendFormat(dst, TimeLayout)
	dst = append(dst, '"')
	dst = appendOpt(dst, `,"tenant_id":`, r.TenantID)
	dst = appendOpt(dst, `,"user_id":`, r.UserID)
	dst = appendOpt(dst, `,"session_id":`, r.SessionID)
	dst = appendOpt(dst, `,"feature":`, r.Feature)
	dst = appendOpt(dst, `,"service_name":`, r.ServiceName)
	dst = appendOpt(dst, `,"environment":`, r.Environment)
	dst = appendOpt(dst, `,"provider":`, r.Provider)
	dst = appendOpt(dst, `,"operation":`, r.Operation)
	dst = appendOpt(dst, `,"request_model":`, r.RequestModel)
	dst = appendOpt(dst, `,"response_model":`, r.ResponseModel)
	dst = appendOpt(dst, `,"catalog_provider":`, r.CatalogProvider)
	dst = appendOpt(dst, `,"catalog_model":`, r.CatalogModel)
	dst = append(dst, `,"input_tokens":`...)
	dst = strconv.AppendInt(dst, r.InputTokens, 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, r.OutputTokens, 10)
	dst = append(dst, `,"cache_read_tokens":`...)
	dst = strconv.AppendInt(dst, r.CacheReadTokens, 10)
	dst = append(dst, `,"cache_write_tokens":`...)
	dst = strconv.AppendInt(dst, r.CacheWriteTokens, 10)
	dst = append(dst, `,"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, r.ReasoningTokens, 10)
	dst = append(dst, `,"input_audio_tokens":`...)
	dst = strconv.AppendInt(dst, r.InputAudioTokens, 10)
	dst = append(dst, `,"output_audio_tokens":`...)
	dst = strconv.AppendInt(dst, r.OutputAudioTokens, 10)
	dst = append(dst, `,"cache_write_1h_tokens":`...)
	dst = strconv.AppendInt(dst, r.CacheWrite1hTokens, 10)
	dst = appendOpt(dst, `,"cost_usd":`, r.CostUSD)
	dst = appendOpt(dst, `,"reported_cost_usd":`, r.ReportedCostUSD)
	dst = appendOpt(dst, `,"cost_reconciliation":`, r.CostReconciliation)
	dst = appendOpt(dst, `,"cost_source":`, r.CostSource)
	dst = appendOpt(dst, `,"revenue_usd":`, r.RevenueUSD)
	dst = appendOpt(dst, `,"price_ref":`, r.PriceRef)
	dst = appendOpt(dst, `,"service_tier":`, r.ServiceTier)
	dst = appendOpt(dst, `,"plan":`, r.Plan)
	dst = appendOpt(dst, `,"token_convention":`, r.TokenConvention)
	dst = append(dst, `,"pricing_status":`...)
	dst = appendString(dst, r.PricingStatus)
	dst = appendOpt(dst, `,"completion":`, r.Completion)
	dst = appendOpt(dst, `,"pricing_detail":`, r.PricingDetail)
	dst = append(dst, `,"billable":`...)
	dst = strconv.AppendBool(dst, r.Billable)
	dst = appendOpt(dst, `,"billable_reason":`, r.BillableReason)
	dst = appendOpt(dst, `,"trace_id":`, r.TraceID)
	dst = appendOpt(dst, `,"span_id":`, r.SpanID)
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

// wire is the decoding shape of the schema.
type wire struct {
	EventID          string `json:"event_id"`
	Time             string `json:"time"`
	TenantID         string `json:"tenant_id"`
	UserID           string `json:"user_id"`
	SessionID        string `json:"session_id"`
	Feature          string `json:"feature"`
	ServiceName      string `json:"service_name"`
	Environment      string `json:"environment"`
	Provider         string `json:"provider"`
	Operation        string `json:"operation"`
	RequestModel     string `json:"request_model"`
	ResponseModel    string `json:"response_model"`
	CatalogProvider  string `json:"catalog_provider"`
	CatalogModel     string `json:"catalog_model"`
	InputTokens      *int64 `json:"input_tokens"`
	OutputTokens     *int64 `json:"output_tokens"`
	CacheReadTokens  *int64 `json:"cache_read_tokens"`
	CacheWriteTokens *int64 `json:"cache_write_tokens"`
	ReasoningTokens  *int64 `json:"reasoning_tokens"`
	// Version 2; absent (0) in a version-1 object.
	InputAudioTokens   int64  `json:"input_audio_tokens"`
	OutputAudioTokens  int64  `json:"output_audio_tokens"`
	CacheWrite1hTokens int64  `json:"cache_write_1h_tokens"`
	CostReconciliation string `json:"cost_reconciliation"`
	CostSource         string `json:"cost_source"`
	Completion         string `json:"completion"`
	CostUSD            string `json:"cost_usd"`
	ReportedCostUSD    string `json:"reported_cost_usd"`
	RevenueUSD         string `json:"revenue_usd"`
	PriceRef           string `json:"price_ref"`
	ServiceTier        string `json:"service_tier"`
	Plan               string `json:"plan"`
	TokenConvention    string `json:"token_convention"`
	PricingStatus      string `json:"pricing_status"`
	PricingDetail      string `json:"pricing_detail"`
	Billable           *bool  `json:"billable"`
	BillableReason     string `json:"billable_reason"`
	TraceID            string `json:"trace_id"`
	SpanID             string `json:"span_id"`
}

// Unmarshal reads a record written by Append. It fails when a key that is
// always written is missing, so that a truncated or foreign message is not
// read as a zero-token call.
func Unmarshal(data []byte) (usage.Record, error) {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return usage.Record{}, fmt.Errorf("usagejson: %w", err)
	}
	switch {
	case w.EventID == "":
		return usage.Record{}, fmt.Errorf("usagejson: missing event_id")
	case w.PricingStatus == "":
		return usage.Record{}, fmt.Errorf("usagejson: missing pricing_status")
	case w.InputTokens == nil || w.OutputTokens == nil || w.CacheReadTokens == nil ||
		w.CacheWriteTokens == nil || w.ReasoningTokens == nil:
		return usage.Record{}, fmt.Errorf("usagejson: missing a token count")
	case w.Billable == nil:
		return usage.Record{}, fmt.Errorf("usagejson: missing billable")
	}
	t, err := time.Parse(time.RFC3339Nano, w.Time)
	if err != nil {
		return usage.Record{}, fmt.Errorf("usagejson: time: %w", err)
	}
	return usage.Record{
		EventID: w.EventID, Time: t.UTC(), TenantID: w.TenantID, UserID: w.UserID, SessionID: w.SessionID,
		Feature: w.Feature, ServiceName: w.ServiceName, Environment: w.Environment, Provider: w.Provider,
		Operation: w.Operation, RequestModel: w.RequestModel, ResponseModel: w.ResponseModel,
		CatalogProvider: w.CatalogProvider, CatalogModel: w.CatalogModel,
		InputTokens: *w.InputTokens, OutputTokens: *w.OutputTokens, CacheReadTokens: *w.CacheReadTokens,
		CacheWriteTokens: *w.CacheWriteTokens, ReasoningTokens: *w.ReasoningTokens,
		InputAudioTokens: w.InputAudioTokens, OutputAudioTokens: w.OutputAudioTokens, CacheWrite1hTokens: w.CacheWrite1hTokens,
		CostUSD: w.CostUSD, ReportedCostUSD: w.ReportedCostUSD, CostReconciliation: w.CostReconciliation, CostSource: w.CostSource, RevenueUSD: w.RevenueUSD, PriceRef: w.PriceRef,
		ServiceTier: w.ServiceTier, Plan: w.Plan, TokenConvention: w.TokenConvention,
		PricingStatus: w.PricingStatus, Completion: w.Completion, PricingDetail: w.PricingDetail, Billable: *w.Billable,
		BillableReason: w.BillableReason, TraceID: w.TraceID, SpanID: w.SpanID,
	}, nil
}
