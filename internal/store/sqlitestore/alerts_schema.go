package sqlitestore

// alertsSchema is migration 5: the alerts of package balances. A row is an
// alert that fired, keyed by what makes it unique (a threshold alert is
// tenant, period, allowance or grant, and percentage), so that inserting it
// in the transaction that crossed the threshold fires it once however often
// the ledger is replayed or however many collectors share it. The delivery
// columns are its outbox: a sender claims a row (claimed_until) before it
// posts, and marks it delivered or dead after.
const alertsSchema = `
	CREATE TABLE genaimeter_alerts (
		alert_id      TEXT    NOT NULL PRIMARY KEY,
		kind          TEXT    NOT NULL,
		tenant_id     TEXT    NOT NULL,
		subject       TEXT    NOT NULL,
		fired_at      INTEGER NOT NULL,
		window_start  INTEGER NOT NULL,
		window_end    INTEGER NOT NULL,
		detail        TEXT    NOT NULL,
		seq           INTEGER NOT NULL,
		delivered_at  INTEGER NOT NULL DEFAULT 0,
		attempts      INTEGER NOT NULL DEFAULT 0,
		claimed_until INTEGER NOT NULL DEFAULT 0,
		dead_reason   TEXT    NOT NULL DEFAULT ''
	);
	CREATE INDEX genaimeter_alerts_tenant ON genaimeter_alerts (tenant_id, fired_at);
	CREATE INDEX genaimeter_alerts_pending ON genaimeter_alerts (delivered_at, claimed_until);`
