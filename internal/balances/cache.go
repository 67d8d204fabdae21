package balances

import (
	"context"
	"fmt"
	"time"

	"github.com/genaimeter/genaimeter/internal/entitlement"
)

// bookCache keeps, between the inserts of a SQLite ledger's writer, the
// balances and grants the last batches loaded and wrote, exactly as a reload
// would read them back, so that the next batch loads only the tenants it has
// not seen (loading every batch's balances again was ~14% of a
// 10,000-tenant insert). It is an optimisation only, never a source of
// truth: it is used while nothing but this hook has written the ledger since
// it was filled, and dropped otherwise. That holds when
//
//   - the applied sequence in the database is the one the cache's last batch
//     reached (a batch whose commit failed, a rebuild, another process's
//     catch-up all leave it elsewhere),
//   - SQLite's data_version of the writer connection is unchanged (no other
//     connection, of this process or another, committed since), and
//   - the Store's write generation is unchanged (no WriteTx on the writer
//     connection since: grants created or voided, a rebuild, a catch-up).
//
// Only the insert hook uses it; hooks run one at a time under the Store's
// write lock, so it needs no lock of its own.
type bookCache struct {
	valid   bool
	seq     int64  // applied_seq the contents reflect
	version int64  // PRAGMA data_version when filled
	gen     uint64 // sqlitestore.Store.WriteGeneration when filled
	// periods holds every balance of a tenant in a period (an empty slice:
	// the tenant has none there); grants every grant of a tenant, in burn
	// order.
	periods map[tenantPeriod][]*entitlement.Balance
	grants  map[string][]*entitlement.Grant
}

// tenantPeriod is a tenant's billing period (its start, unix seconds).
type tenantPeriod struct {
	tenant string
	period int64
}

// maxCachedTenantPeriods bounds the cache's memory (a few hundred bytes per
// balance): past it the cache starts over, and the next batches load again.
const maxCachedTenantPeriods = 200_000

func newBookCache() *bookCache { return &bookCache{} }

func (c *bookCache) reset() {
	c.valid = false
	c.periods = map[tenantPeriod][]*entitlement.Balance{}
	c.grants = map[string][]*entitlement.Grant{}
}

// begin checks the cache against the database at the start of a batch and
// drops it if anything but this hook wrote since. It stays invalid until
// commit: a batch that fails half-way leaves objects of the cache changed.
func (c *bookCache) begin(ctx context.Context, q querier, applied int64, gen uint64) error {
	var version int64
	if err := q.query(ctx, `PRAGMA data_version`, nil, func(scan func(...any) error) error { return scan(&version) }); err != nil {
		return fmt.Errorf("balances: data version: %w", err)
	}
	if !c.valid || c.seq != applied || c.version != version || c.gen != gen {
		c.reset()
		c.version, c.gen = version, gen
	}
	c.valid = false
	return nil
}

// commit records the balances and grants of the tenants and periods a batch
// loaded, after saveBook wrote them, as the database now holds them; seq is
// the applied sequence the batch reached.
func (c *bookCache) commit(book *entitlement.Book, tps map[tenantPeriod]bool, tenants map[string]bool, seq int64) error {
	if len(c.periods)+len(tps) > maxCachedTenantPeriods {
		c.reset()
	}
	for tp := range tps {
		if _, ok := c.periods[tp]; !ok {
			c.periods[tp] = nil
		}
	}
	for _, b := range book.Balances {
		tp := tenantPeriod{b.Tenant, b.Period.Unix()}
		if !tps[tp] {
			continue
		}
		if b.Dirty {
			asStored(b)
		}
		if !contains(c.periods[tp], b) {
			c.periods[tp] = append(c.periods[tp], b)
		}
	}
	for t := range tenants {
		gs := book.Grants[t]
		for _, g := range gs {
			g.Dirty = false
		}
		c.grants[t] = gs
	}
	c.seq, c.valid = seq, true
	return nil
}

func contains(bs []*entitlement.Balance, b *entitlement.Balance) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

// asStored makes a balance saveBook wrote what scanBalance would read
// back: its end in whole seconds, UTC, and clean. Its decimals stay as they
// are: the book's arithmetic is exact (money's context, the prorating's
// fixed rounding), so a decimal and its stored text, which money.Format
// reduces, differ in trailing zeros only, never in value or in any text
// written — as within a rebuild's chunk, which applies 20,000 records
// without reloading.
func asStored(b *entitlement.Balance) {
	b.End = time.Unix(b.End.Unix(), 0).UTC()
	b.Dirty = false
}

// lookupPeriod returns the cached balances of a tenant's period; nil-safe.
func (c *bookCache) lookupPeriod(tp tenantPeriod) ([]*entitlement.Balance, bool) {
	if c == nil {
		return nil, false
	}
	bs, ok := c.periods[tp]
	return bs, ok
}

// lookupGrants returns the cached grants of a tenant; nil-safe.
func (c *bookCache) lookupGrants(tenant string) ([]*entitlement.Grant, bool) {
	if c == nil {
		return nil, false
	}
	gs, ok := c.grants[tenant]
	return gs, ok
}
