package pgstore

// rollupSchema is migration 6 (sqlitestore's 7, whose comment says why): the
// (tenant_id, time) index goes, (time) becomes (time, tenant_id), and the
// spend buckets of the spike check come.
const rollupSchema = `
	DROP INDEX usage_records_tenant_time;
	DROP INDEX usage_records_time;
	CREATE INDEX usage_records_time_tenant ON usage_records (time, tenant_id);
	CREATE TABLE genaimeter_spend_buckets (bucket_ns bigint NOT NULL PRIMARY KEY);
	CREATE TABLE genaimeter_spend (
		tenant_id    text    NOT NULL,
		bucket_ns    bigint  NOT NULL,
		feature      text    NOT NULL,
		bucket_start bigint  NOT NULL,
		cost_usd     numeric NOT NULL,
		first_call   bigint  NOT NULL,
		PRIMARY KEY (tenant_id, bucket_ns, feature, bucket_start)
	);`
