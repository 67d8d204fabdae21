package pgstore

// entitlementSchema is migration 3: the ledger sequence and the tables of
// package balances (as sqlitestore's migration 4, in PostgreSQL types; money
// is numeric). Rows stored before it are numbered in time order.
const entitlementSchema = `
	ALTER TABLE usage_records ADD COLUMN seq bigint;
	CREATE SEQUENCE usage_records_seq;
	WITH o AS (SELECT event_id, row_number() OVER (ORDER BY time, event_id) AS n FROM usage_records)
		UPDATE usage_records u SET seq = o.n FROM o WHERE u.event_id = o.event_id;
	SELECT setval('usage_records_seq', COALESCE((SELECT max(seq) FROM usage_records), 0) + 1, false);
	CREATE INDEX usage_records_seq_idx ON usage_records (seq);
	CREATE TABLE genaimeter_balance_state (applied_seq bigint NOT NULL);
	INSERT INTO genaimeter_balance_state (applied_seq) VALUES (0);
	CREATE TABLE genaimeter_balances (
		tenant_id        text    NOT NULL,
		period_start     bigint  NOT NULL,
		allowance        text    NOT NULL,
		period_end       bigint  NOT NULL,
		plan             text    NOT NULL,
		meter            text    NOT NULL,
		amount           numeric NOT NULL,
		used             numeric NOT NULL,
		included         numeric NOT NULL,
		granted          numeric NOT NULL,
		overage          numeric NOT NULL,
		overage_usd      numeric NOT NULL,
		calls            bigint  NOT NULL,
		unmetered        bigint  NOT NULL,
		overage_unpriced bigint  NOT NULL,
		PRIMARY KEY (tenant_id, period_start, allowance)
	);
	CREATE TABLE genaimeter_grants (
		grant_id   text    NOT NULL PRIMARY KEY,
		tenant_id  text    NOT NULL,
		meter      text    NOT NULL,
		amount     numeric NOT NULL,
		used       numeric NOT NULL,
		effective  bigint  NOT NULL,
		expires    bigint  NOT NULL,
		priority   integer NOT NULL,
		after_seq  bigint  NOT NULL,
		voided_seq bigint  NOT NULL,
		note       text    NOT NULL,
		created    bigint  NOT NULL
	);
	CREATE INDEX genaimeter_grants_tenant ON genaimeter_grants (tenant_id);
	CREATE TABLE genaimeter_daily_usage (
		tenant_id      text    NOT NULL,
		day            bigint  NOT NULL,
		feature        text    NOT NULL,
		provider       text    NOT NULL,
		model          text    NOT NULL,
		calls          bigint  NOT NULL,
		unpriced_calls bigint  NOT NULL,
		input_tokens   bigint  NOT NULL,
		output_tokens  bigint  NOT NULL,
		cost_usd       numeric NOT NULL,
		revenue_usd    numeric NOT NULL,
		PRIMARY KEY (tenant_id, day, feature, provider, model)
	);
	CREATE TABLE genaimeter_api_keys (
		key_id      text   NOT NULL PRIMARY KEY,
		secret_hash text   NOT NULL,
		tenant_id   text,
		note        text   NOT NULL,
		created     bigint NOT NULL,
		revoked     bigint NOT NULL
	);
	CREATE TABLE genaimeter_audit (
		audit_seq bigserial PRIMARY KEY,
		at        bigint NOT NULL,
		key_id    text   NOT NULL,
		action    text   NOT NULL,
		tenant_id text,
		subject   text   NOT NULL,
		detail    text   NOT NULL
	);`
