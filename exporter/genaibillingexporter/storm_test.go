package genaibillingexporter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/genaimeter/genaimeter/exporter/genaibillingexporter/internal/metadata"
	"github.com/genaimeter/genaimeter/exporter/genaibillingexporter/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/deadletter"
	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// Tenants of the storm: three billed, one without a customer id (held
// back), one whose customer id the backend refuses (dead-lettered).
var stormCustomers = map[string]string{"t1": "cus_1", "t2": "cus_2", "t3": "cus_3", "t5": "cus_bad"}

const (
	stormTenantUnmapped = "t4"
	stormTenantBad      = "t5"
	costScale           = "1000000000" // nano-USD: every test cost has at most 9 decimals
)

func stormRecords(n int) []usage.Record {
	tenants := []string{"t1", "t2", "t3", stormTenantUnmapped, stormTenantBad, "t1", "t2"}
	base := time.Date(2026, 3, 4, 5, 0, 0, 0, time.UTC)
	out := make([]usage.Record, n)
	for i := range out {
		r := usage.Record{
			EventID:      fmt.Sprintf("%032x%016x", i+1, i+1),
			Time:         base.Add(time.Duration(i) * 7 * time.Second),
			TenantID:     tenants[i%len(tenants)],
			Provider:     "openai",
			RequestModel: "gpt-4o-mini",
			CatalogModel: "gpt-4o-mini",
			InputTokens:  int64(100 + i),
			OutputTokens: int64(7 * (i % 13)),
			Billable:     true,
			TraceID:      fmt.Sprintf("%032x", i+1),
			SpanID:       fmt.Sprintf("%016x", i+1),
		}
		if i%10 == 9 {
			r.PricingStatus = usage.StatusUnpriced // no cost: the cost meter dead-letters it (no_value)
		} else {
			r.PricingStatus = usage.StatusPriced
			r.CostUSD = fmt.Sprintf("0.%09d", 135+i*1_000_003%999_999_999)
		}
		out[i] = r
	}
	return out
}

func toLogs(recs []usage.Record) plog.Logs {
	ld := plog.NewLogs()
	sl := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty()
	for i := range recs {
		recs[i].ToLogRecord(sl.LogRecords().AppendEmpty())
	}
	return ld
}

// ledgerTotals writes the records to a real SQLite ledger and returns, per
// tenant, the exact token total (input + output) and cost in USD.
func ledgerTotals(t testing.TB, recs []usage.Record) map[string][2]apd.Decimal {
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "ledger.db"))
	require.NoError(t, err)
	defer st.Close()
	ctx := context.Background()
	require.NoError(t, st.Migrate(ctx))
	_, _, err = st.Insert(ctx, recs)
	require.NoError(t, err)
	rows, err := st.Summary(ctx, sqlitestore.SummaryFilter{})
	require.NoError(t, err)
	out := map[string][2]apd.Decimal{}
	for _, r := range rows {
		acc := out[r.TenantID]
		var tok, cost apd.Decimal
		tok.SetInt64(r.InputTokens + r.OutputTokens)
		_, _, err := cost.SetString(r.CostUSD)
		require.NoError(t, err)
		err = money.Add(&acc[0], &acc[0], &tok)
		require.NoError(t, err)
		err = money.Add(&acc[1], &acc[1], &cost)
		require.NoError(t, err)
		out[r.TenantID] = acc
	}
	return out
}

func writeCustomers(t testing.TB, dir string, m map[string]string) string {
	p := filepath.Join(dir, "customers.yaml")
	var b []byte
	for k, v := range m {
		b = fmt.Appendf(b, "%s: %s\n", k, v)
	}
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

func stormConfig(t testing.TB, backend string, srv *contractServer, window time.Duration) *Config {
	dir := t.TempDir()
	cfg := createDefaultConfig().(*Config)
	cfg.Backend = backend
	cfg.APIKey = "sk_test_key"
	cfg.ClientConfig.Endpoint = srv.url()
	cfg.ClientConfig.Timeout = 200 * time.Millisecond
	switch backend {
	case "stripe_v2":
		cfg.Backend = backendStripe
		cfg.Stripe.API = "v2"
		cfg.Stripe.StreamEndpoint = srv.url()
	case backendOpenMeter:
		cfg.OpenMeter.Source = "genaimeter-test"
	case backendWebhook:
		cfg.APIKey = ""
		cfg.ClientConfig.Endpoint = srv.url() + "/hook"
		cfg.Webhook.Secret = "whsec_test"
	}
	cfg.Customers.File = writeCustomers(t, dir, stormCustomers)
	cfg.DeadLetter.Path = filepath.Join(dir, "dead", "letters.jsonl")
	cfg.Meters = []MeterConfig{
		{Name: "genai_tokens", Value: valueTotalTokens},
		{Name: "genai_cost", Value: valueCostUSD, Scale: costScale},
	}
	cfg.Aggregation.Window = window
	q := exporterhelper.NewDefaultQueueConfig()
	q.NumConsumers = 4
	b := exporterhelper.NewDefaultBatchConfig()
	b.FlushTimeout = 20 * time.Millisecond
	b.MinSize = 40
	// Small batches: more requests, so that every fault hits every backend.
	b.MaxSize = 30
	q.Batch = configoptional.Some(b)
	cfg.QueueConfig = configoptional.Some(q)
	cfg.RetryConfig.InitialInterval = 5 * time.Millisecond
	cfg.RetryConfig.MaxInterval = 20 * time.Millisecond
	cfg.RetryConfig.RandomizationFactor = 0
	require.NoError(t, cfg.Validate())
	return cfg
}

// readDeadLetters reads the complete lines of the dead-letter file. The
// storm reads it while the exporter appends: a last line without its newline
// is still being written and is left for the next read. Each line must be
// exactly package deadletter's format: it decodes without unknown fields and
// encodes back to the same bytes.
func readDeadLetters(t testing.TB, path string) []deadletter.Entry {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	b = b[:bytes.LastIndexByte(b, '\n')+1]
	var out []deadletter.Entry
	for _, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var d deadletter.Entry
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&d))
		require.Equal(t, string(line)+"\n", string(deadletter.Line(&d)))
		out = append(out, d)
	}
	return out
}

// TestStorm sends records through the exporter (queue, batching, retry: the
// real exporterhelper) to each backend's contract server while it throws 429s,
// 500s, connection resets, lost acknowledgements, late answers and replayed
// requests; then it checks that the backend's exact tally per customer and
// meter equals the SQLite ledger's sums, that every key was ingested once,
// and that everything not billed is in the dead-letter file and counted.
func TestStorm(t *testing.T) {
	perEventRefusal := map[string]bool{"stripe": true, backendLago: true, backendOrb: true, backendWebhook: true}
	for _, backend := range []string{"stripe", "stripe_v2", backendOpenMeter, backendLago, backendOrb, backendMetronome, backendWebhook} {
		for _, window := range []time.Duration{0, time.Minute} {
			if backend == "stripe" && window > 0 && testing.Short() {
				continue
			}
			t.Run(fmt.Sprintf("%s/window=%s", backend, window), func(t *testing.T) {
				runStorm(t, backend, window, perEventRefusal[backend])
			})
		}
	}
}

func runStorm(t *testing.T, backend string, window time.Duration, refuses bool) {
	srv := newContractServer(t, backend)
	srv.faults = stormFaults
	if refuses {
		srv.badCustomer = "cus_bad"
	}
	cfg := stormConfig(t, backend, srv, window)
	recs := stormRecords(210)

	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
	set := metadatatest.NewSettings(tel)
	set.ID = component.NewIDWithName(metadata.Type, "storm")
	exp, err := NewFactory().CreateLogs(context.Background(), set, cfg)
	require.NoError(t, err)
	require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
	for i := 0; i < len(recs); i += 15 {
		// A fresh plog per call: batching moves data out of what it is given.
		require.NoError(t, exp.ConsumeLogs(context.Background(), toLogs(append([]usage.Record(nil), recs[i:min(i+15, len(recs))]...))))
	}

	// Expected: the ledger's totals per billed tenant, scaled like the meters.
	ledger := ledgerTotals(t, recs)
	var scale apd.Decimal
	_, _, _ = scale.SetString(costScale)
	want := map[string]apd.Decimal{}
	var refused [2]apd.Decimal
	for tenant, cust := range stormCustomers {
		tot := ledger[tenant]
		var cost apd.Decimal
		err := money.Mul(&cost, &tot[1], &scale)
		require.NoError(t, err)
		if tenant == stormTenantBad && refuses {
			refused = [2]apd.Decimal{tot[0], cost}
			continue
		}
		want[cust+"/genai_tokens"] = tot[0]
		want[cust+"/genai_cost"] = cost
	}
	var unmapped, unpricedMapped, badEvents int
	for _, r := range recs {
		switch {
		case r.TenantID == stormTenantUnmapped:
			unmapped++
		case r.CostUSD == "":
			unpricedMapped++
		}
		if r.TenantID == stormTenantBad {
			badEvents++ // tokens
			if r.CostUSD != "" {
				badEvents++
			}
		}
	}
	wantDead := unmapped + unpricedMapped
	if refuses && window == 0 {
		wantDead += badEvents
	}

	equal := func(tally map[string]apd.Decimal) bool {
		if len(tally) != len(want) {
			return false
		}
		for k, w := range want {
			g, ok := tally[k]
			if !ok || g.Cmp(&w) != 0 {
				return false
			}
		}
		return true
	}
	deadDone := func() bool {
		d := readDeadLetters(t, cfg.DeadLetter.Path)
		if window == 0 || !refuses {
			return len(d) >= wantDead
		}
		// Aggregated refusals: as many entries as windows; wait on the sum.
		var sum [2]apd.Decimal
		n := 0
		for _, e := range d {
			if e.Reason != reasonRejected {
				n++
				continue
			}
			v := dec(t, e.Event.Value)
			i := 0
			if e.Event.Meter == "genai_cost" {
				i = 1
			}
			_ = money.Add(&sum[i], &sum[i], &v)
		}
		return n >= wantDead && sum[0].Cmp(&refused[0]) == 0 && sum[1].Cmp(&refused[1]) == 0
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, tally, _ := srv.snapshot()
		for k, g := range tally {
			// A sum above the ledger's can never come back down: billed twice.
			if w, ok := want[k]; !ok || g.Cmp(&w) > 0 {
				t.Fatalf("%s billed beyond the ledger: got %s, want %s", k, g.String(), w.String())
			}
		}
		if equal(tally) && deadDone() {
			break
		}
		if time.Now().After(deadline) {
			_, tally, n := srv.snapshot()
			t.Fatalf("storm did not converge after %d requests: tally %v, want %v; %d dead letters, want %d",
				n, tally, want, len(readDeadLetters(t, cfg.DeadLetter.Path)), wantDead)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let retries of already-ingested events (lost acks) finish, then drain.
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, exp.Shutdown(context.Background()))

	ingested, tally, requests := srv.snapshot()
	require.True(t, equal(tally), "after shutdown: tally %v, want %v", tally, want)
	for k, n := range ingested {
		require.Equalf(t, 1, n, "key %s ingested %d times", k, n)
	}
	if window == 0 {
		events := 0
		for _, r := range recs {
			if r.TenantID == stormTenantUnmapped || (refuses && r.TenantID == stormTenantBad) {
				continue
			}
			events++
			if r.CostUSD != "" {
				events++
			}
		}
		require.Len(t, ingested, events, "one key per record and meter")
	}

	dead := readDeadLetters(t, cfg.DeadLetter.Path)
	byReason := map[string]int{}
	for _, d := range dead {
		byReason[d.Reason]++
		if d.Reason == reasonRejected {
			require.Equal(t, "cus_bad", d.Event.Customer)
			require.NotEmpty(t, d.Event.Response, "a refusal keeps the response body")
		}
	}
	require.Equal(t, unmapped, byReason[reasonUnmappedTenant])
	require.Equal(t, unpricedMapped, byReason[reasonNoValue])
	if refuses && window == 0 {
		require.Equal(t, badEvents, byReason[reasonRejected])
	}
	if !refuses {
		require.Zero(t, byReason[reasonRejected])
	}
	held, err := tel.GetMetric("otelcol_exporter_genai_billing_records_held")
	require.NoError(t, err)
	require.Equal(t, int64(unmapped), sumInt(held))
	t.Logf("%s window=%s: %d requests, %d keys, dead letters %v", backend, window, requests, len(ingested), byReason)
}

func dec(t testing.TB, s string) apd.Decimal {
	var d apd.Decimal
	_, _, err := d.SetString(s)
	require.NoError(t, err)
	return d
}

func sumInt(m metricdataMetrics) int64 {
	var n int64
	if s, ok := m.Data.(metricdata.Sum[int64]); ok {
		for _, dp := range s.DataPoints {
			n += dp.Value
		}
	}
	return n
}

type metricdataMetrics = metricdata.Metrics
