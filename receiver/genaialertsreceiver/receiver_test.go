package genaialertsreceiver

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/entitlement"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/receiver/genaialertsreceiver/internal/metadata"
)

func loadConfig(t *testing.T, name string) (*Config, error) {
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := NewFactory().CreateDefaultConfig()
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg.(*Config), confmap.Validate(cfg)
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(t, "")
	require.NoError(t, err)
	assert.Equal(t, "genai_usage_service", cfg.Service.String())
	assert.Equal(t, time.Second, cfg.Interval)
	cfg, err = loadConfig(t, "fast")
	require.NoError(t, err)
	assert.Equal(t, "genai_usage_service/shared", cfg.Service.String())
	assert.Equal(t, 100*time.Millisecond, cfg.Interval)
	_, err = loadConfig(t, "bad")
	assert.EqualError(t, err, `service: required (the genai_usage_service extension), got ""`)
}

type source struct{ l *balances.Ledger }

func (s source) Start(context.Context, component.Host) error { return nil }
func (s source) Shutdown(context.Context) error              { return nil }
func (s source) AlertLedger() *balances.Ledger               { return s.l }

type host struct {
	exts map[component.ID]component.Component
}

func (h host) GetExtensions() map[component.ID]component.Component { return h.exts }

// TestEmitsEachAlertOnce: the ledger's alerts become log records once; a
// restarted receiver emits only what fired since.
func TestEmitsEachAlertOnce(t *testing.T) {
	ps, err := entitlement.Parse([]byte(`
default_plan: free
plans:
  free:
    credits_per_usd: "1000"
    allowances: [{name: credits, meter: credits, amount: "100", limit: hard}]
`))
	require.NoError(t, err)
	st, err := sqlitestore.Open(filepath.Join(t.TempDir(), "usage.db"))
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Migrate(context.Background()))
	l := balances.ForSQLite(st, entitlement.StaticSource(ps), true)
	at := time.Date(2026, 11, 14, 12, 0, 0, 0, time.UTC)
	call := func(id, revenue string) usage.Record {
		return usage.Record{EventID: strings.Repeat(id, 48), TenantID: "acme", Time: at, CatalogProvider: "openai", CatalogModel: "o3",
			PricingStatus: usage.StatusPriced, CostUSD: "0.01", RevenueUSD: revenue, Billable: true}
	}
	_, _, err = st.Insert(context.Background(), []usage.Record{call("a", "0.06")}) // 60: 50 %
	require.NoError(t, err)

	extID := component.MustNewID("genai_usage_service")
	h := host{exts: map[component.ID]component.Component{extID: source{l}}}
	run := func() *consumertest.LogsSink {
		sink := new(consumertest.LogsSink)
		cfg := &Config{Service: extID, Interval: 20 * time.Millisecond}
		r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, sink)
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background(), h))
		time.Sleep(200 * time.Millisecond)
		require.NoError(t, r.Shutdown(context.Background()))
		return sink
	}
	sink := run()
	require.Equal(t, 1, sink.LogRecordCount())
	lr := sink.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, "tenant acme reached 50% of allowance:credits (60 of 100 credits)", lr.Body().Str())
	assert.Equal(t, "genaimeter.alert.threshold", lr.EventName())
	assert.Equal(t, map[string]any{
		"genaimeter.alert.id": "threshold/acme/1793491200/allowance:credits/50", "genaimeter.alert.kind": "threshold",
		"genaimeter.alert.subject": "allowance:credits", "tenant.id": "acme",
		"genaimeter.alert.window_start": "2026-11-01T00:00:00Z", "genaimeter.alert.window_end": "2026-12-01T00:00:00Z",
		"genaimeter.alert.detail": map[string]any{"threshold_percent": "50", "plan": "free", "allowance": "credits", "meter": "credits",
			"amount": "100", "used": "60", "event_id": strings.Repeat("a", 48)},
	}, lr.Attributes().AsRaw())
	assert.Equal(t, at, lr.Timestamp().AsTime())

	// Restarted: nothing again; then the 80 and 100 % alerts, once.
	assert.Equal(t, 0, run().LogRecordCount())
	_, _, err = st.Insert(context.Background(), []usage.Record{call("b", "0.05")})
	require.NoError(t, err)
	sink = run()
	require.Equal(t, 2, sink.LogRecordCount())
	assert.Equal(t, 0, run().LogRecordCount())
}

func TestStartNamesAMissingExtension(t *testing.T) {
	cfg := &Config{Service: component.MustNewID("genai_usage_service"), Interval: time.Second}
	r, err := NewFactory().CreateLogs(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, new(consumertest.LogsSink))
	require.NoError(t, err)
	err = r.Start(context.Background(), host{})
	assert.EqualError(t, err, `service: extension "genai_usage_service" is not configured (add it to service.extensions)`)
}
