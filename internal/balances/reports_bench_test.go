package balances

import (
	"context"
	"fmt"
	"testing"

	"github.com/genaimeter/genaimeter/internal/finance"
)

// BenchmarkReportsAt1M measures the finance reports over the readers'
// ledger (1M calls of 1,000 tenants in one month): one tenant's invoice
// preview (finance.InvoiceOf, what the invoice API, the CLI and the
// customer page run) and the margin report of every tenant (which reads
// the month and the one before it).
func BenchmarkReportsAt1M(b *testing.B) {
	l := readBenchLedger(b)
	ctx := context.Background()
	p := finance.Period{Name: "2026-11", Start: readBenchMonth[0], End: readBenchMonth[1]}
	tenant := fmt.Sprintf("tenant-%05d", 42)
	b.Run("Invoice-month", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			inv, err := finance.InvoiceOf(ctx, l, p, tenant, readBenchMonth[1])
			if err != nil || inv == nil || inv.Calls != readBenchRows/readBenchTenants {
				b.Fatalf("%+v, %v", inv, err)
			}
		}
	})
	b.Run("Margin-month", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rep, err := finance.MarginReport(ctx, l, p)
			if err != nil || rep.Calls != readBenchRows {
				b.Fatalf("%d calls, %v", rep.Calls, err)
			}
		}
	})
}
