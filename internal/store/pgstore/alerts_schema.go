package pgstore

// alertsSchema is migration 4 (sqlitestore's 5 in PostgreSQL types): the alerts of package balances. A row is an
// alert that fired, keyed by what makes it unique (a threshold alert is
// tenant, period, allowance or grant, and percentage), so that inserting it
// in the transaction that crossed the threshold fires it once however often
// the ledger is replayed or however many collectors share it. The delivery
// columns are its outbox: a sender claims a row (claimed_until) before it
// posts, and marks it delivered or dead after.
const alertsSchema = `
	CREATE TABLE genaimeter_alerts (
		alert_id      text    NOT NULL PRIMARY KEY,
		kind          text    NOT NULL,
		tenant_id     text    NOT NULL,
		subject       text    NOT NULL,
		fired_at      bigint  NOT NULL,
		window_start  bigint  NOT NULL,
		window_end    bigint  NOT NULL,
		detail        text    NOT NULL,
		seq           bigint  NOT NULL,
		delivered_at  bigint  NOT NULL DEFAULT 0,
		attempts      bigint  NOT NULL DEFAULT 0,
		claimed_until bigint  NOT NULL DEFAULT 0,
		dead_reason   text    NOT NULL DEFAULT ''
	);
	CREATE INDEX genaimeter_alerts_tenant ON genaimeter_alerts (tenant_id, fired_at);
	CREATE INDEX genaimeter_alerts_pending ON genaimeter_alerts (delivered_at, claimed_until);`
