package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkSpanToBalanceLag: how long after the collector accepted a call
// the usage service's balance includes it, while 4 clients keep the
// pipeline loaded (requests of 100 calls over 7 tenants, 4,000 calls/s). Each iteration
// sends one probe call for its own tenant and polls the entitlements until
// the call is counted. Reports the p50 and p99 lag and the background rate.
// The lag includes the exporter's batching (flush after 200ms at the latest).
func BenchmarkSpanToBalanceLag(b *testing.B) {
	bin := collectorBinary(b)
	cli := filepath.Join(filepath.Dir(bin), "genaimeter")
	api, tel := freePort(b), freePort(b)
	plans := filepath.Join(b.TempDir(), "plans.yaml")
	require.NoError(b, os.WriteFile(plans, []byte(usageServicePlans), 0o600))
	cfg := strings.NewReplacer("{{API}}", strconv.Itoa(api), "{{TELEMETRY}}", strconv.Itoa(tel), "{{PLANS}}", plans).Replace(usageServiceConfig)
	c := startCollector(b, cfg)
	out, err := exec.Command(cli, "keys", "create", "--db", c.dbPath, "--admin").CombinedOutput()
	require.NoError(b, err, "%s", out)
	admin := strings.TrimSpace(string(out))
	base := fmt.Sprintf("http://127.0.0.1:%d", api)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loaded atomic.Int64
	client := &http.Client{Timeout: 30 * time.Second}
	// Each of 4 clients sends 100 calls every 100ms: 4,000 calls/s offered,
	// below what the pipeline stores here, so that the lag is the pipeline's
	// and not a growing backlog's.
	for w := range 4 {
		wg.Go(func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := w; ; i += 4 {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				body, _, _ := crashRequest(i)
				if post(client, c.http, body) {
					loaded.Add(crashSpansPerReq)
				}
			}
		})
	}
	calls := func(tenant string) float64 {
		req, _ := http.NewRequest("GET", base+"/v1/tenants/"+tenant+"/entitlements", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := client.Do(req)
		require.NoError(b, err)
		defer res.Body.Close()
		require.Equal(b, http.StatusOK, res.StatusCode)
		var m map[string]any
		require.NoError(b, json.NewDecoder(res.Body).Decode(&m))
		if bal := balance(m, "calls"); bal != nil {
			return bal["calls"].(float64)
		}
		return 0
	}
	var lags []time.Duration
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		tenant := fmt.Sprintf("probe%03d", i%1000)
		before := calls(tenant)
		res, err := client.Post(c.http+"/v1/traces", "application/json", bytes.NewReader(creditCalls(tenant, 100000+i, 1, time.Now())))
		require.NoError(b, err)
		res.Body.Close()
		require.Equal(b, http.StatusOK, res.StatusCode)
		t0 := time.Now()
		for calls(tenant) == before {
			time.Sleep(2 * time.Millisecond)
			require.Less(b, time.Since(t0), 30*time.Second, "probe never counted")
		}
		lags = append(lags, time.Since(t0))
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "p50-lag-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Milliseconds()), "p99-lag-ms")
	b.ReportMetric(float64(loaded.Load())/elapsed.Seconds(), "background-calls/s")
}
