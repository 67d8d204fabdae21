package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"time"

	"github.com/cockroachdb/apd/v3"

	"github.com/genaimeter/genaimeter/internal/money"
	"github.com/genaimeter/genaimeter/internal/usage"
)

// SummaryFilter selects the calls Summary adds up: Since <= time < Until. A
// zero bound is open.
type SummaryFilter struct {
	Since time.Time
	Until time.Time
}

// SummaryRow is the usage of one tenant on one model. Model is the catalog
// model, else the response model, else the request model (a call the catalog
// did not match).
type SummaryRow struct {
	TenantID string
	Model    string

	Calls            int64
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	ReasoningTokens  int64
	// InputAudioTokens, OutputAudioTokens and CacheWrite1hTokens are the
	// audio parts of input and output and the 1-hour part of the cache
	// writes (each priced at its own rate).
	InputAudioTokens   int64
	OutputAudioTokens  int64
	CacheWrite1hTokens int64
	// StoppedCalls counts the calls whose completion is stopped: priced ones
	// are a lower bound (partial).
	StoppedCalls int64

	// CostUSD is the exact decimal sum of the priced calls ("0" when none is
	// priced). It never includes the unpriced calls, which are counted apart so
	// that a partial total is never mistaken for a complete one.
	CostUSD       string
	UnpricedCalls int64
	// InvalidCalls counts the calls recorded with pricing_status
	// invalid_usage (their usage or time cannot be right): no cost, no
	// tokens, and not among UnpricedCalls.
	InvalidCalls int64
}

// summedColumns are the token columns Summary sums, in scan order.
var summedColumns = [...]string{"input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens",
	"input_audio_tokens", "output_audio_tokens", "cache_write_1h_tokens"}

// Summary sums usage per tenant and model over the filter's time range,
// ordered by tenant then model. Token counts are summed in Go with checked
// additions: a sum int64 cannot hold fails the summary (usage.ErrCountOverflow)
// instead of wrapping around to a negative number. Costs are read as the
// stored decimal text and summed with apd, because SQLite's SUM over TEXT
// would go through floating point.
func (s *Store) Summary(ctx context.Context, f SummaryFilter) ([]SummaryRow, error) {
	q := `SELECT COALESCE(tenant_id, ''), COALESCE(catalog_model, response_model, request_model, ''),
		input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
		input_audio_tokens, output_audio_tokens, cache_write_1h_tokens, cost_usd, pricing_status, COALESCE(completion, '')
		FROM usage_records WHERE 1 = 1`
	var args []any
	if !f.Since.IsZero() {
		q += ` AND time >= ?`
		args = append(args, f.Since.UTC().Format(usage.TimeLayout))
	}
	if !f.Until.IsZero() {
		q += ` AND time < ?`
		args = append(args, f.Until.UTC().Format(usage.TimeLayout))
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: summary: %w", err)
	}
	defer rows.Close()

	type key struct{ tenant, model string }
	type acc struct {
		row  SummaryRow
		cost apd.Decimal
	}
	groups := map[key]*acc{}
	for rows.Next() {
		var (
			k          key
			in         [len(summedColumns)]int64
			cost       sql.NullString
			status     string
			completion string
		)
		if err := rows.Scan(&k.tenant, &k.model, &in[0], &in[1], &in[2], &in[3], &in[4], &in[5], &in[6], &in[7],
			&cost, &status, &completion); err != nil {
			return nil, fmt.Errorf("sqlitestore: summary: %w", err)
		}
		g := groups[k]
		if g == nil {
			g = &acc{row: SummaryRow{TenantID: k.tenant, Model: k.model}}
			groups[k] = g
		}
		g.row.Calls++
		r := &g.row
		if completion == usage.CompletionStopped {
			r.StoppedCalls++
		}
		for i, sum := range [...]*int64{&r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheWriteTokens, &r.ReasoningTokens,
			&r.InputAudioTokens, &r.OutputAudioTokens, &r.CacheWrite1hTokens} {
			if err := usage.AddCount(sum, in[i]); err != nil {
				return nil, fmt.Errorf("sqlitestore: summary: tenant %q, model %q: %s: %w", k.tenant, k.model, summedColumns[i], err)
			}
		}
		if !cost.Valid {
			if status == usage.StatusInvalidUsage {
				g.row.InvalidCalls++
			} else {
				g.row.UnpricedCalls++
			}
			continue
		}
		d, err := parseCost(cost.String)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: summary: stored cost_usd: %w", err)
		}
		if err := money.Add(&g.cost, &g.cost, d); err != nil {
			return nil, fmt.Errorf("sqlitestore: summary: add cost %q: %w", cost.String, err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: summary: %w", err)
	}
	out := make([]SummaryRow, 0, len(groups))
	for _, g := range groups {
		g.row.CostUSD = g.cost.Text('f')
		out = append(out, g.row)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TenantID != out[j].TenantID {
			return out[i].TenantID < out[j].TenantID
		}
		return out[i].Model < out[j].Model
	})
	return out, nil
}
