package sqlitestore

// entitlementSchema is migration 4: the tables of package balances, kept in
// the ledger so that they change in the same transaction as the records they
// roll up. Money is exact decimal text (summed in Go, never in SQL); times are
// Unix seconds (periods, days) or nanoseconds (grant windows, creation).
const entitlementSchema = `
	CREATE TABLE genaimeter_balance_state (applied_seq INTEGER NOT NULL);
	INSERT INTO genaimeter_balance_state (applied_seq) VALUES (0);
	CREATE TABLE genaimeter_balances (
		tenant_id        TEXT    NOT NULL,
		period_start     INTEGER NOT NULL,
		allowance        TEXT    NOT NULL,
		period_end       INTEGER NOT NULL,
		plan             TEXT    NOT NULL,
		meter            TEXT    NOT NULL,
		amount           TEXT    NOT NULL,
		used             TEXT    NOT NULL,
		included         TEXT    NOT NULL,
		granted          TEXT    NOT NULL,
		overage          TEXT    NOT NULL,
		overage_usd      TEXT    NOT NULL,
		calls            INTEGER NOT NULL,
		unmetered        INTEGER NOT NULL,
		overage_unpriced INTEGER NOT NULL,
		PRIMARY KEY (tenant_id, period_start, allowance)
	) WITHOUT ROWID;
	CREATE TABLE genaimeter_grants (
		grant_id   TEXT    NOT NULL PRIMARY KEY,
		tenant_id  TEXT    NOT NULL,
		meter      TEXT    NOT NULL,
		amount     TEXT    NOT NULL,
		used       TEXT    NOT NULL,
		effective  INTEGER NOT NULL,
		expires    INTEGER NOT NULL,
		priority   INTEGER NOT NULL,
		after_seq  INTEGER NOT NULL,
		voided_seq INTEGER NOT NULL,
		note       TEXT    NOT NULL,
		created    INTEGER NOT NULL
	);
	CREATE INDEX genaimeter_grants_tenant ON genaimeter_grants (tenant_id);
	CREATE TABLE genaimeter_daily_usage (
		tenant_id      TEXT    NOT NULL,
		day            INTEGER NOT NULL,
		feature        TEXT    NOT NULL,
		provider       TEXT    NOT NULL,
		model          TEXT    NOT NULL,
		calls          INTEGER NOT NULL,
		unpriced_calls INTEGER NOT NULL,
		input_tokens   INTEGER NOT NULL,
		output_tokens  INTEGER NOT NULL,
		cost_usd       TEXT    NOT NULL,
		revenue_usd    TEXT    NOT NULL,
		PRIMARY KEY (tenant_id, day, feature, provider, model)
	) WITHOUT ROWID;
	CREATE TABLE genaimeter_api_keys (
		key_id      TEXT    NOT NULL PRIMARY KEY,
		secret_hash TEXT    NOT NULL,
		tenant_id   TEXT,
		note        TEXT    NOT NULL,
		created     INTEGER NOT NULL,
		revoked     INTEGER NOT NULL
	);
	CREATE TABLE genaimeter_audit (
		audit_seq INTEGER PRIMARY KEY AUTOINCREMENT,
		at        INTEGER NOT NULL,
		key_id    TEXT    NOT NULL,
		action    TEXT    NOT NULL,
		tenant_id TEXT,
		subject   TEXT    NOT NULL,
		detail    TEXT    NOT NULL
	);`
