package genaicostprocessor

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector/connectortest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/genaimeter/genaimeter/connector/genaiusageconnector"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// FuzzOTLPToRecord sends random OTLP trace requests (protobuf) through the
// genai_cost processor and the genai_usage connector, as the collector's
// pipeline does.
// Neither may panic or fail the batch, and every usage record that comes out
// must be one the ledger accepts (usage.FromLogRecord, then
// usage.ValidateRecord: a hostile span becomes a flagged record, never a
// record the stores refuse), with no event id twice (nothing billed twice),
// and no more records than spans. Seeds (testdata/fuzz/FuzzOTLPToRecord):
// every export request of the real instrumentation captures in
// testdata/realclients.
func FuzzOTLPToRecord(f *testing.F) {
	ctx := context.Background()
	pf, cf := NewFactory(), genaiusageconnector.NewFactory()
	pcfg := pf.CreateDefaultConfig().(*Config)
	pcfg.Attribution.Ancestors.Wait = 0 // no holding: each input is judged alone
	// One processor for the whole run (its start loads the price catalog);
	// a fresh connector per input, so that its deduplication does not hide
	// one input's records behind another's.
	fwd := &forwardTraces{}
	proc, err := pf.CreateTraces(ctx, processortest.NewNopSettings(pf.Type()), pcfg, fwd)
	if err != nil {
		f.Fatal(err)
	}
	host := componenttest.NewNopHost()
	if err := proc.Start(ctx, host); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		if err := proc.Shutdown(ctx); err != nil {
			f.Error(err)
		}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		var um ptrace.ProtoUnmarshaler
		td, err := um.UnmarshalTraces(data)
		if err != nil {
			return
		}
		spans := td.SpanCount()
		logs := new(consumertest.LogsSink)
		conn, err := cf.CreateTracesToLogs(ctx, connectortest.NewNopSettings(cf.Type()), cf.CreateDefaultConfig(), logs)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Start(ctx, host); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := conn.Shutdown(ctx); err != nil {
				t.Error(err)
			}
		}()
		fwd.next = conn
		if err := proc.ConsumeTraces(ctx, td); err != nil {
			t.Fatalf("the batch failed: %v", err)
		}
		seen := map[string]bool{}
		n := 0
		for _, ld := range logs.AllLogs() {
			for i := 0; i < ld.ResourceLogs().Len(); i++ {
				sls := ld.ResourceLogs().At(i).ScopeLogs()
				for j := 0; j < sls.Len(); j++ {
					lrs := sls.At(j).LogRecords()
					for k := 0; k < lrs.Len(); k++ {
						r, err := usage.FromLogRecord(lrs.At(k))
						if err != nil {
							t.Fatalf("record %d does not read back: %v", n, err)
						}
						if err := usage.ValidateRecord(&r); err != nil {
							t.Fatalf("the ledger would refuse record %d: %v\n%+v", n, err, r)
						}
						if seen[r.EventID] {
							t.Fatalf("event id %s twice", r.EventID)
						}
						seen[r.EventID] = true
						n++
					}
				}
			}
		}
		if n > spans {
			t.Fatalf("%d records from %d spans", n, spans)
		}
	})
}

// forwardTraces passes batches to the current input's connector.
type forwardTraces struct {
	next consumer.Traces
}

func (f *forwardTraces) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

func (f *forwardTraces) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	return f.next.ConsumeTraces(ctx, td)
}
