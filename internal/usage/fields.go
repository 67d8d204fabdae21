package usage

import "time"

// Kind is the type of a record field. It fixes the field's form everywhere:
// its attribute type on the span and the log record, its JSON type and its
// ledger column type, and what ValidateRecord checks.
type Kind uint8

const (
	// KindText is free text: a string attribute, a JSON string, a text
	// column. Empty is absent: no attribute, no JSON key, SQL NULL.
	KindText Kind = iota + 1
	// KindDecimal is an exact decimal as plain text (money, credits): a
	// string attribute, a JSON string, SQLite TEXT, PostgreSQL numeric.
	// Empty is absent (not known), never a silent 0.
	KindDecimal
	// KindCount is a token count: an int attribute, a JSON number, an
	// integer column.
	KindCount
	// KindFlag is a yes/no: a bool attribute, a JSON boolean, SQLite 0/1,
	// PostgreSQL boolean.
	KindFlag
	// KindTime is the call's time (CallTime): the log record's timestamp, JSON
	// and SQLite text in TimeLayout, PostgreSQL timestamptz.
	KindTime
)

// TimeLayout is how a record's time is written as text (JSON, the SQLite
// ledger): RFC 3339 in UTC with a fixed nine-digit fraction. time.RFC3339Nano
// would trim trailing zeros, and then "…:05Z" sorts after "…:05.5Z" as text;
// with a fixed width, text order is time order, so range filters and the
// (time) indexes work on plain string compares.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Field is one field of the usage record and all its forms. Fields (the
// table below) is the record's schema: the log record, the JSON object and
// the ledger's insert are written from it, ValidateRecord checks by it, and
// the tests of the span attributes and of the SQLite and PostgreSQL schemas
// compare against it, so a field missing in one form fails a test.
type Field struct {
	// Name is the field's JSON key and its ledger column.
	Name string
	// Key is its attribute key on the metered span and the usage log
	// record; "" for the time, which is the log record's timestamp.
	Key  string
	Kind Kind
	// OnSpan: the genai_cost processor writes it on the metered span. The
	// others the connector takes from the span itself (its ids, its
	// resource).
	OnSpan bool
	// Required: always present. NOT NULL in the ledger, always written in
	// JSON (a count or a flag as 0 or false).
	Required bool
	// LogAlways: the span and the log record carry it even when empty or 0;
	// otherwise only when set (each attribute is an allocation, and a
	// reader takes an absent one as empty or 0).
	LogAlways bool
	// Since is the JSON schema version (usagejson) that added the field: a
	// required field of a later version may be missing in an older object.
	Since int
	// SQLite and Postgres are the ledger column's types, as SQLite's
	// table_info and PostgreSQL's format_type report them.
	SQLite, Postgres string
	// Values are the allowed values of an enumerated field (ValidateRecord).
	Values []string

	// The field's place in a Record, by Kind: Str for text and decimals,
	// Int for counts, Bool for flags, Time for the time.
	Str  func(*Record) *string
	Int  func(*Record) *int64
	Bool func(*Record) *bool
	Time func(*Record) *time.Time
}

// The column types of the kinds.
const (
	sqliteText, sqliteInt = "TEXT", "INTEGER"
	pgText, pgNumeric     = "text", "numeric"
	pgBigint, pgBool      = "bigint", "boolean"
	pgTime                = "timestamp with time zone"
)

func text(name, key string, onSpan bool, get func(*Record) *string) Field {
	return Field{Name: name, Key: key, Kind: KindText, OnSpan: onSpan, Since: 1, SQLite: sqliteText, Postgres: pgText, Str: get}
}

func decimal(name, key string, get func(*Record) *string) Field {
	return Field{Name: name, Key: key, Kind: KindDecimal, OnSpan: true, Since: 1, SQLite: sqliteText, Postgres: pgNumeric, Str: get}
}

func count(name, key string, get func(*Record) *int64) Field {
	return Field{Name: name, Key: key, Kind: KindCount, OnSpan: true, Required: true, LogAlways: true, Since: 1,
		SQLite: sqliteInt, Postgres: pgBigint, Int: get}
}

// always marks a field the span and log record carry even when empty.
func always(f Field) Field { f.LogAlways = true; return f }

// required marks a field always present in every form.
func required(f Field) Field { f.Required, f.LogAlways = true, true; return f }

// since marks a field added by JSON schema version v; a count of a later
// version is written on spans and log records only when not 0.
func since(v int, f Field) Field {
	f.Since = v
	if f.Kind == KindCount {
		f.LogAlways = false
	}
	return f
}

func enum(f Field, values []string) Field { f.Values = values; return f }

// fields is the record's schema, in the order of the JSON object and of the
// log record's attributes. Append only: the order is the JSON text's.
var fields = []Field{
	required(text("event_id", AttrEventID, false, func(r *Record) *string { return &r.EventID })),
	{Name: "time", Kind: KindTime, Required: true, LogAlways: true, Since: 1, SQLite: sqliteText, Postgres: pgTime,
		Time: func(r *Record) *time.Time { return &r.Time }},
	always(text("tenant_id", AttrTenantID, true, func(r *Record) *string { return &r.TenantID })),
	text("user_id", AttrUserID, true, func(r *Record) *string { return &r.UserID }),
	text("session_id", AttrSessionID, true, func(r *Record) *string { return &r.SessionID }),
	text("feature", AttrFeature, true, func(r *Record) *string { return &r.Feature }),
	text("service_name", AttrServiceName, false, func(r *Record) *string { return &r.ServiceName }),
	text("environment", AttrEnvironment, false, func(r *Record) *string { return &r.Environment }),
	text("provider", AttrProvider, true, func(r *Record) *string { return &r.Provider }),
	text("operation", AttrOperation, true, func(r *Record) *string { return &r.Operation }),
	text("request_model", AttrRequestModel, true, func(r *Record) *string { return &r.RequestModel }),
	text("response_model", AttrResponseModel, true, func(r *Record) *string { return &r.ResponseModel }),
	text("catalog_provider", AttrCatalogProvider, true, func(r *Record) *string { return &r.CatalogProvider }),
	text("catalog_model", AttrCatalogModel, true, func(r *Record) *string { return &r.CatalogModel }),
	count("input_tokens", AttrInputTokens, func(r *Record) *int64 { return &r.InputTokens }),
	count("output_tokens", AttrOutputTokens, func(r *Record) *int64 { return &r.OutputTokens }),
	count("cache_read_tokens", AttrCacheReadTokens, func(r *Record) *int64 { return &r.CacheReadTokens }),
	count("cache_write_tokens", AttrCacheWriteTokens, func(r *Record) *int64 { return &r.CacheWriteTokens }),
	count("reasoning_tokens", AttrReasoningTokens, func(r *Record) *int64 { return &r.ReasoningTokens }),
	since(2, count("input_audio_tokens", AttrInputAudioTokens, func(r *Record) *int64 { return &r.InputAudioTokens })),
	since(2, count("output_audio_tokens", AttrOutputAudioTokens, func(r *Record) *int64 { return &r.OutputAudioTokens })),
	since(2, count("cache_write_1h_tokens", AttrCacheWrite1hTokens, func(r *Record) *int64 { return &r.CacheWrite1hTokens })),
	decimal("cost_usd", AttrCostUSD, func(r *Record) *string { return &r.CostUSD }),
	decimal("reported_cost_usd", AttrReportedCostUSD, func(r *Record) *string { return &r.ReportedCostUSD }),
	since(2, enum(text("cost_reconciliation", AttrCostReconciliation, true, func(r *Record) *string { return &r.CostReconciliation }), reconciliations)),
	since(2, enum(text("cost_source", AttrCostSource, true, func(r *Record) *string { return &r.CostSource }), costSources)),
	decimal("revenue_usd", AttrRevenueUSD, func(r *Record) *string { return &r.RevenueUSD }),
	text("price_ref", AttrPriceRef, true, func(r *Record) *string { return &r.PriceRef }),
	text("service_tier", AttrServiceTier, true, func(r *Record) *string { return &r.ServiceTier }),
	text("plan", AttrPlan, true, func(r *Record) *string { return &r.Plan }),
	text("token_convention", AttrTokenConvention, true, func(r *Record) *string { return &r.TokenConvention }),
	required(text("pricing_status", AttrPricingStatus, true, func(r *Record) *string { return &r.PricingStatus })),
	since(2, enum(text("completion", AttrCompletion, true, func(r *Record) *string { return &r.Completion }), completions)),
	text("pricing_detail", AttrPricingDetail, true, func(r *Record) *string { return &r.PricingDetail }),
	{Name: "billable", Key: AttrBillable, Kind: KindFlag, OnSpan: true, Required: true, LogAlways: true, Since: 1,
		SQLite: sqliteInt, Postgres: pgBool, Bool: func(r *Record) *bool { return &r.Billable }},
	text("billable_reason", AttrBillableReason, true, func(r *Record) *string { return &r.BillableReason }),
	always(text("trace_id", AttrTraceID, false, func(r *Record) *string { return &r.TraceID })),
	always(text("span_id", AttrSpanID, false, func(r *Record) *string { return &r.SpanID })),
	since(3, decimal("credits", AttrCredits, func(r *Record) *string { return &r.Credits })),
}

// Fields returns the record's schema (see Field), in JSON and log record
// order. The slice is shared: callers must not modify it.
func Fields() []Field { return fields }

// keyTable finds a field by its attribute key (FromLogRecord, the
// connector): an open-addressing table on a hash of the key's length and
// three of its bytes, probed linearly and confirmed by comparing the keys.
// A map lookup per attribute was most of the cost of reading a span's
// attributes; this is one probe and one compare for almost every key.
var keyTable = func() (t [keyTableSize]*Field) {
	for i := range fields {
		if k := fields[i].Key; k != "" {
			h := keyHash(k)
			for t[h] != nil {
				h = (h + 1) % keyTableSize
			}
			t[h] = &fields[i]
		}
	}
	return t
}()

// keyTableSize is a power of two over twice the number of keys.
const keyTableSize = 128

// keyHash hashes a key of the "genaimeter." prefix.
func keyHash(k string) uint32 {
	n := len(k)
	return (uint32(n)*31 + uint32(k[len(Prefix)])*7 + uint32(k[n-1])*3 + uint32(k[n-3])) % keyTableSize
}

// FieldByKey returns the field whose attribute key is k.
func FieldByKey(k string) (*Field, bool) {
	if len(k) < len(Prefix)+3 || k[:len(Prefix)] != Prefix {
		return nil, false
	}
	for h := keyHash(k); ; h = (h + 1) % keyTableSize {
		f := keyTable[h]
		if f == nil {
			return nil, false
		}
		if f.Key == k {
			return f, true
		}
	}
}

// RecordAttrs is how many attributes a usage record carries at most: one per
// field with an attribute key. Writers size the attribute map with it once.
var RecordAttrs = func() int {
	n := 0
	for i := range fields {
		if fields[i].Key != "" {
			n++
		}
	}
	return n
}()

// SpanAttrs is how many genaimeter.* attributes the genai_cost processor
// writes on a metered span at most: one per OnSpan field.
var SpanAttrs = func() int {
	n := 0
	for i := range fields {
		if fields[i].OnSpan {
			n++
		}
	}
	return n
}()
