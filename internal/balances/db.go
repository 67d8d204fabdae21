package balances

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/genaimeter/genaimeter/internal/usage"
)

// querier runs the package's SQL on SQLite or PostgreSQL. Statements are
// written once, in PostgreSQL's dialect ($n parameters, ::text to read numeric
// columns as exact text); the SQLite querier rewrites them ($n → ?n, casts
// dropped: its money columns are text already).
type querier interface {
	exec(ctx context.Context, q string, args ...any) error
	query(ctx context.Context, q string, args []any, row func(scan func(dest ...any) error) error) error
	sqlite() bool
}

var (
	pgParam  = regexp.MustCompile(`\$(\d+)`)
	pgCast   = strings.NewReplacer("::text", "", "::numeric", "")
	sqlCache sync.Map // PostgreSQL text → SQLite text
)

// toSQLite rewrites a statement for SQLite. Parameters used once each, in
// order ($1, $2, ...) become plain "?": numbered ones ("?2") made modernc's
// binding look every parameter's name up in a list, quadratic in their
// number (94% of a 10,000-tenant batch's time).
func toSQLite(q string) string {
	if s, ok := sqlCache.Load(q); ok {
		return s.(string)
	}
	s := pgCast.Replace(q)
	next, inOrder := 1, true
	for _, m := range pgParam.FindAllStringSubmatch(s, -1) {
		if m[1] != strconv.Itoa(next) {
			inOrder = false
			break
		}
		next++
	}
	if inOrder {
		s = pgParam.ReplaceAllString(s, "?")
	} else {
		s = pgParam.ReplaceAllString(s, "?$1")
	}
	if sqlCacheSize.Add(1) <= maxSQLCache {
		sqlCache.Store(q, s)
	}
	return s
}

// maxSQLCache bounds toSQLite's cache: statement texts are few (fixed chunk
// sizes), but a text that varies with its data must not grow it forever.
const maxSQLCache = 4096

var sqlCacheSize atomic.Int64

// sqlQuerier is a *sql.DB or *sql.Tx of a SQLite ledger. With tx and stmts
// set (the insert hook, the write transactions), statements are prepared
// once per connection instead of once per call.
type sqlQuerier struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
	tx    *sql.Tx
	stmts *stmtCache
}

func (s sqlQuerier) sqlite() bool { return true }

// stmt returns the cached statement of text bound to the transaction, or nil
// (no cache, or the cache is full).
func (s sqlQuerier) stmt(ctx context.Context, text string) (*sql.Stmt, error) {
	if s.tx == nil || s.stmts == nil {
		return nil, nil
	}
	st, err := s.stmts.get(ctx, text)
	if st == nil || err != nil {
		return nil, err
	}
	return s.tx.StmtContext(ctx, st), nil
}

func (s sqlQuerier) exec(ctx context.Context, q string, args ...any) error {
	text := toSQLite(q)
	st, err := s.stmt(ctx, text)
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
		_, err = st.ExecContext(ctx, args...)
		return err
	}
	_, err = s.q.ExecContext(ctx, text, args...)
	return err
}

func (s sqlQuerier) query(ctx context.Context, q string, args []any, row func(scan func(dest ...any) error) error) error {
	text := toSQLite(q)
	st, err := s.stmt(ctx, text)
	if err != nil {
		return err
	}
	var rows *sql.Rows
	if st != nil {
		defer st.Close()
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = s.q.QueryContext(ctx, text, args...)
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// stmtCache holds statements prepared on a SQLite ledger's *sql.DB. A
// transaction binds one with Tx.StmtContext, which database/sql prepares on
// the transaction's connection the first time only: the writer connection
// parses each statement once per process instead of once per batch (parsing
// a batch's multi-row upserts was ~8% of a 10,000-tenant batch). The
// statement texts are few (fixed chunk sizes, see chunkSizes); maxStmts
// bounds the cache all the same.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxStmts = 512

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

func (c *stmtCache) get(ctx context.Context, text string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.m[text]; ok {
		return st, nil
	}
	if len(c.m) >= maxStmts {
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	c.m[text] = st
	return st, nil
}

// pgQuerier is a pool or transaction of a PostgreSQL ledger.
type pgQuerier struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
}

func (p pgQuerier) sqlite() bool { return false }

func (p pgQuerier) exec(ctx context.Context, q string, args ...any) error {
	_, err := p.q.Exec(ctx, q, args...)
	return err
}

func (p pgQuerier) query(ctx context.Context, q string, args []any, row func(scan func(dest ...any) error) error) error {
	rows, err := p.q.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// item is a stored record and its ledger position.
type item struct {
	seq int64
	r   *usage.Record
}

// recordColumns are the columns allocation and rollups read back from
// usage_records (catch-up, rebuild), after the sequence.
const recordColumns = `event_id, tenant_id, plan, feature, provider, operation, request_model, response_model,
	catalog_provider, catalog_model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
	cost_usd::text, revenue_usd::text, pricing_status, credits::text`

// readRecords calls fn with the records after seq `after` and before
// `before` (0: no bound), at most limit, in ledger order.
func readRecords(ctx context.Context, q querier, after, before int64, limit int, fn func(item) error) error {
	var stmt string
	if q.sqlite() {
		stmt = `SELECT rowid, time, billable, ` + recordColumns + ` FROM usage_records WHERE rowid > $1 AND ($2 = 0 OR rowid < $3) ORDER BY rowid LIMIT $4`
	} else {
		stmt = `SELECT seq, time, billable, ` + recordColumns + ` FROM usage_records WHERE seq > $1 AND ($2 = 0 OR seq < $3) ORDER BY seq LIMIT $4`
	}
	return q.query(ctx, stmt, []any{after, before, before, limit}, func(scan func(...any) error) error {
		var it item
		r := &usage.Record{}
		it.r = r
		var tenant, plan, feature, provider, op, reqModel, respModel, catProv, catModel, cost, rev, credits sql.NullString
		var when any
		var billable any
		if err := scan(&it.seq, &when, &billable, &r.EventID, &tenant, &plan, &feature, &provider, &op, &reqModel, &respModel,
			&catProv, &catModel, &r.InputTokens, &r.OutputTokens, &r.CacheReadTokens, &r.CacheWriteTokens, &r.ReasoningTokens,
			&cost, &rev, &r.PricingStatus, &credits); err != nil {
			return err
		}
		if err := setTimeAndBillable(r, when, billable); err != nil {
			return err
		}
		r.TenantID, r.Plan, r.Feature, r.Provider, r.Operation = tenant.String, plan.String, feature.String, provider.String, op.String
		r.RequestModel, r.ResponseModel, r.CatalogProvider, r.CatalogModel = reqModel.String, respModel.String, catProv.String, catModel.String
		r.CostUSD, r.RevenueUSD, r.Credits = cost.String, rev.String, credits.String
		return fn(it)
	})
}

// placeholders returns "($a, $a+1, ...), (...)" for rows of n columns from
// parameter first. The texts are few (chunkSizes) and long: built once.
func placeholders(rows, n, first int) string {
	k := [3]int{rows, n, first}
	if s, ok := placeholderCache.Load(k); ok {
		return s.(string)
	}
	s := buildPlaceholders(rows, n, first)
	if placeholderCacheSize.Add(1) <= maxSQLCache {
		placeholderCache.Store(k, s)
	}
	return s
}

var (
	placeholderCache     sync.Map // [3]int → string
	placeholderCacheSize atomic.Int64
)

func buildPlaceholders(rows, n, first int) string {
	var b strings.Builder
	p := first
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j := range n {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", p)
			p++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// chunkSizes splits n rows into statements of at most max rows (a power of
// two) each: whole chunks of max, then the rest as powers of two, largest
// first. A multi-row statement's text depends on its row count, so this keeps
// the number of distinct statements (parsed, converted and cached) to about
// log2(max) per table instead of one per batch size.
func chunkSizes(n, max int) []int {
	var out []int
	for ; n >= max; n -= max {
		out = append(out, max)
	}
	for p := max / 2; n > 0; p /= 2 {
		if n >= p {
			out = append(out, p)
			n -= p
		}
	}
	return out
}

// maxRows is the largest power of two of rows of n parameters under maxParams.
func maxRows(n int) int {
	r := 1
	for 2*r*n <= maxParams {
		r *= 2
	}
	return r
}

// inListChunk is the most tenants or ids one IN (...) list carries.
const inListChunk = 512

// inList returns "$first, ..., $first+n-1".
func inList(n, first int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

// setTimeAndBillable sets a record's time and billable flag from their
// columns, which the two stores return in different types: PostgreSQL a
// timestamptz and a boolean, SQLite text in usage.TimeLayout and an integer.
func setTimeAndBillable(r *usage.Record, when, billable any) error {
	switch v := when.(type) {
	case time.Time:
		r.Time = v.UTC()
	case string:
		t, err := time.Parse(usage.TimeLayout, v)
		if err != nil {
			return fmt.Errorf("event %s: time %q: %w", r.EventID, v, err)
		}
		r.Time = t
	default:
		return fmt.Errorf("event %s: time of type %T", r.EventID, when)
	}
	switch v := billable.(type) {
	case bool:
		r.Billable = v
	case int64:
		r.Billable = v != 0
	}
	return nil
}
