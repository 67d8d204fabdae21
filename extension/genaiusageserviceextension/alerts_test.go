package genaiusageserviceextension

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/genaimeter/genaimeter/extension/genaiusageserviceextension/internal/metadatatest"
	"github.com/genaimeter/genaimeter/internal/alerts"
	"github.com/genaimeter/genaimeter/internal/balances"
	"github.com/genaimeter/genaimeter/internal/store/sqlitestore"
	"github.com/genaimeter/genaimeter/internal/usage"
	"github.com/genaimeter/genaimeter/pkg/webhooksig"
)

// TestDeliversAlertsToTheSignedWebhook: a call through a ledger with the
// balances hook crosses the free plan's 50/80/100 %; the extension posts
// each alert once, signed, to the webhook (the 80 % one refused: dead-lettered
// with the reason), and counts the posts.
func TestDeliversAlertsToTheSignedWebhook(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhooksig.Verify("s3cret", r.Header.Get(webhooksig.Header), body, time.Now(), webhooksig.Tolerance); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p alerts.Payload
		require.NoError(t, json.Unmarshal(body, &p))
		if strings.HasSuffix(p.Alert.ID, "/80") {
			http.Error(w, "not this one", http.StatusUnprocessableEntity)
			return
		}
		mu.Lock()
		got = append(got, p.Alert.ID+" used="+p.Alert.Detail.Used)
		mu.Unlock()
	}))
	defer hook.Close()

	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Plans = filepath.Join("testdata", "plans.yaml")
	cfg.SQLite.Path = filepath.Join(dir, "usage.db")
	cfg.HTTP.NetAddr.Endpoint = "127.0.0.1:0"
	cfg.Alerts.Interval = 50 * time.Millisecond
	cfg.Alerts.DeadLetter = filepath.Join(dir, "alerts.dead.jsonl")
	cfg.Alerts.Webhook.Endpoint = hook.URL
	cfg.Alerts.Webhook.Secret = "s3cret"
	require.NoError(t, cfg.Validate())
	tel := componenttest.NewTelemetry()
	defer func() { require.NoError(t, tel.Shutdown(context.Background())) }()
	ext, err := NewFactory().Create(context.Background(), metadatatest.NewSettings(tel), cfg)
	require.NoError(t, err)
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()

	// The collector's ledger writer (the genai_ledger exporter's store).
	st, err := sqlitestore.Open(cfg.SQLite.Path)
	require.NoError(t, err)
	defer st.Close()
	balances.ForSQLite(st, ext.(*service).BalancesPlans(), true)
	now := time.Now().UTC()
	_, _, err = st.Insert(context.Background(), []usage.Record{{EventID: strings.Repeat("e", 48), TenantID: "zed", Time: now,
		CatalogProvider: "openai", CatalogModel: "gpt-4o-mini", PricingStatus: usage.StatusPriced, CostUSD: "0.01", RevenueUSD: "0.25", Billable: true}})
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	}, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(cfg.Alerts.DeadLetter)
		return strings.Contains(string(b), `"reason":"http 422: not this one"`)
	}, 10*time.Second, 20*time.Millisecond)
	time.Sleep(200 * time.Millisecond) // further passes post nothing more
	mu.Lock()
	y, m, _ := now.Date()
	prefix := "threshold/zed/" + strconv.FormatInt(time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Unix(), 10)
	assert.ElementsMatch(t, []string{prefix + "/allowance:credits/100 used=250", prefix + "/allowance:credits/50 used=250"}, got)
	mu.Unlock()
	metadatatest.AssertEqualGenaiUsageServiceAlertPosts(t, tel, []metricdata.DataPoint[int64]{
		{Value: 2, Attributes: attribute.NewSet(attribute.String("kind", "threshold"), attribute.String("fate", "delivered"))},
		{Value: 1, Attributes: attribute.NewSet(attribute.String("kind", "threshold"), attribute.String("fate", "dead_lettered"))},
	}, metricdatatest.IgnoreTimestamp())
}
