package genaiusageconnector

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/confmap/confmaptest"
)

// promQLRefs returns the metric names and label names a PromQL expression
// references. It is a small lexer, enough for dashboard queries: label
// matchers {l="v"}, groupings by/without/on/ignoring (l, ...), ranges [..],
// label_values(metric, label), functions and aggregators (identifiers before
// "(").
func promQLRefs(expr string) (metrics, labels []string) {
	if m := regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$`).FindStringSubmatch(expr); m != nil {
		return []string{m[1]}, []string{m[2]}
	}
	// Label matchers, then drop them.
	matchers := regexp.MustCompile(`\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\}`) // a "}" in a value does not end it
	for _, m := range matchers.FindAllStringSubmatch(expr, -1) {
		for _, l := range regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"`).FindAllStringSubmatch(m[1], -1) {
			labels = append(labels, l[1])
		}
	}
	expr = matchers.ReplaceAllString(expr, " ")
	expr = regexp.MustCompile(`\[[^\]]*\]`).ReplaceAllString(expr, " ")
	// Groupings, then drop them.
	groupings := regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	for _, m := range groupings.FindAllStringSubmatch(expr, -1) {
		for _, l := range strings.Split(m[1], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
	}
	expr = groupings.ReplaceAllString(expr, " ")
	for _, m := range regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(?)`).FindAllStringSubmatch(expr, -1) {
		if m[2] == "(" || slices.Contains([]string{"and", "or", "unless", "bool", "offset"}, m[1]) {
			continue // a function, an aggregator or an operator
		}
		metrics = append(metrics, m[1])
	}
	return metrics, labels
}

func TestPromQLRefs(t *testing.T) {
	m, l := promQLRefs(`topk(10, sum by (tenant_id) (increase(a_total{x=~"$t",y!="p{}"}[$__range])) - on (tenant_id) sum(b)) or vector(0)`)
	assert.Equal(t, []string{"a_total", "b"}, m)
	assert.Equal(t, []string{"x", "y", "tenant_id", "tenant_id"}, l)
	m, l = promQLRefs(`label_values(c_total, tenant_id)`)
	assert.Equal(t, []string{"c_total"}, m)
	assert.Equal(t, []string{"tenant_id"}, l)
}

// promName is the prometheus exporter's default translation (underscore
// escaping with suffixes): dots to underscores, the unit unless it is an
// {annotation}, and _total on a monotonic sum.
func promName(d metricDef) string {
	n := strings.ReplaceAll(d.name, ".", "_")
	if !strings.HasPrefix(d.unit, "{") {
		n += "_" + d.unit
	}
	return n + "_total"
}

// TestDashboardQueriesEmittedMetrics checks every query of the Grafana
// dashboard against what the collector exposes: each metric is one the
// connector emits (prometheus naming) or one of its self-telemetry metrics,
// and each label is one of their dimensions. The end-to-end test checks the
// same names against a real scrape.
func TestDashboardQueriesEmittedMetrics(t *testing.T) {
	known := map[string]bool{}
	for _, d := range emittedMetrics {
		require.Equal(t, promName(d), d.promName, d.name)
		known[d.promName] = true
	}
	meta, err := confmaptest.LoadConf("metadata.yaml")
	require.NoError(t, err)
	tel, err := meta.Sub("telemetry::metrics")
	require.NoError(t, err)
	for k := range tel.ToStringMap() {
		known["otelcol_"+k] = true // the collector's own exporter adds no suffix
	}
	knownLabels := map[string]bool{"otel_metric_overflow": true, "signal": true, "limit": true, "field": true}
	for _, n := range builtinDimensionNames {
		knownLabels[n] = true
	}

	data, err := os.ReadFile(filepath.Join("..", "..", "config", "grafana", "genaimeter.json"))
	require.NoError(t, err)
	var dash struct {
		Templating struct {
			List []struct {
				Query any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &dash))
	var exprs []string
	for _, v := range dash.Templating.List {
		if q, ok := v.Query.(map[string]any); ok {
			exprs = append(exprs, q["query"].(string))
		}
	}
	for _, p := range dash.Panels {
		require.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	require.Len(t, exprs, 20)
	used := map[string]bool{}
	for _, e := range exprs {
		metrics, labels := promQLRefs(e)
		require.NotEmpty(t, metrics, "query %q names no metric", e)
		for _, m := range metrics {
			assert.True(t, known[m], "query %q: %s is not a metric the collector exposes", e, m)
			used[m] = true
		}
		for _, l := range labels {
			assert.True(t, knownLabels[l], "query %q: %s is not a label of our metrics", e, l)
		}
	}
	// Every usage metric is on the dashboard.
	for _, d := range emittedMetrics {
		assert.True(t, used[d.promName], "%s is not on the dashboard", d.promName)
	}
}
