// Package usagetest gives the tests of every form of the usage record (log
// record, JSON, the SQLite and PostgreSQL ledgers) one record with every
// field set, so that a field missing in one form fails that form's test.
package usagetest

import (
	"time"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// Full returns a valid priced record in which every field of usage.Fields
// is set (no empty text, no zero count, billable true): a test of usage
// fails when a new field is not set here.
func Full() usage.Record {
	return usage.Record{
		EventID: "0af7651916cd43dd8448eb211c80319cb7ad6b7169203331", Time: time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC),
		TenantID: "acme", UserID: "u-1", SessionID: "s-9", Feature: "summarize", ServiceName: "chat", Environment: "prod",
		Provider: "openai", Operation: "chat", RequestModel: "gpt-4o", ResponseModel: "gpt-4o-2024-08-06",
		CatalogProvider: "openai", CatalogModel: "gpt-4o",
		InputTokens: 4100, OutputTokens: 730, CacheReadTokens: 100, CacheWriteTokens: 20, ReasoningTokens: 30,
		InputAudioTokens: 40, OutputAudioTokens: 50, CacheWrite1hTokens: 6,
		CostUSD: "0.01755", ReportedCostUSD: "0.0175", CostReconciliation: usage.ReconcileDiffers,
		CostSource: usage.CostSourceCatalog, RevenueUSD: "0.02106", PriceRef: "embedded:genai-prices@0.1.8#openai/gpt-4o",
		ServiceTier: "flex", Plan: "pro", TokenConvention: "inclusive", PricingStatus: usage.StatusPriced,
		Completion: usage.CompletionComplete, PricingDetail: "catalog 2026-03-01", Billable: true, BillableReason: "default",
		TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Credits: "1.6848",
	}
}

// Value is field f of r as the Go value a form stores: text, an int64, a
// bool or a time.
func Value(f *usage.Field, r *usage.Record) any {
	switch f.Kind {
	case usage.KindText, usage.KindDecimal:
		return *f.Str(r)
	case usage.KindCount:
		return *f.Int(r)
	case usage.KindFlag:
		return *f.Bool(r)
	case usage.KindTime:
		return *f.Time(r)
	}
	return nil
}
