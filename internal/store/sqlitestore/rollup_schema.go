package sqlitestore

// rollupSchema is migration 7: the write-optimized ledger.
//
// The (tenant_id, time) index is dropped. Calls arrive in time order but
// spread across tenants, so every row inserted into that index landed on a
// different leaf page: with thousands of tenants a batch dirtied one page per
// row and the index cost two thirds of the insert rate, more as the table
// grew. Per-tenant questions are answered from rollups kept in the insert's
// transaction instead (genaimeter_daily_usage, genaimeter_balances, and the
// spend buckets below).
//
// The (time) index becomes (time, tenant_id): still appended at its right
// end as calls arrive (time first), but a reader of one tenant's raw records
// over a range (an invoice, the latest calls) tests the tenant in the index
// and reads only that tenant's rows from the table, instead of every row of
// the range (18× faster for a tenant's month at 1M rows).
//
// genaimeter_spend is a tenant's AI cost per time bucket (feature "": all its
// calls; else one feature's), with the time of its earliest priced call: the
// spend-spike check reads its window and baseline from here instead of
// summing raw records. A bucket is the greatest common divisor of a spike
// rule's window and baseline, so both are whole numbers of buckets.
// genaimeter_spend_buckets lists the bucket lengths kept: a length is filled
// from the ledger the first time a rule needs it, and kept for every priced
// call after that.
const rollupSchema = `
	DROP INDEX usage_records_tenant_time;
	DROP INDEX usage_records_time;
	CREATE INDEX usage_records_time_tenant ON usage_records (time, tenant_id);
	CREATE TABLE genaimeter_spend_buckets (bucket_ns INTEGER NOT NULL PRIMARY KEY);
	CREATE TABLE genaimeter_spend (
		tenant_id    TEXT    NOT NULL,
		bucket_ns    INTEGER NOT NULL,
		feature      TEXT    NOT NULL,
		bucket_start INTEGER NOT NULL,
		cost_usd     TEXT    NOT NULL,
		first_call   INTEGER NOT NULL,
		PRIMARY KEY (tenant_id, bucket_ns, feature, bucket_start)
	) WITHOUT ROWID;`
