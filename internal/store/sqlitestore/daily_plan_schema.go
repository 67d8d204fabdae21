package sqlitestore

// dailyByPlanSchema is migration 9: the daily usage rollup gets the call's
// plan (the record's plan column, "" without one) as a dimension, so that
// the finance reports (invoice preview, margin) are built from the rollup
// instead of the raw records. A call's billing period depends on its plan
// (entitlement.PlansFor: the record's plan when the plans file does not pin
// the tenant's), and periods start at 00:00 UTC, so (tenant, day, plan)
// places every call of a row in one period; without the plan a plan change
// within a day could not be told apart.
//
// A primary key cannot change in SQLite: the table is rebuilt, its rows
// recomputed from the records the balances have applied (rowid up to
// applied_seq; later ones are applied by the next insert or CatchUp, as
// before) exactly as package balances derives them, and summed exactly
// (DailyUsageFromRecords).
const dailyByPlanSchema = `
	CREATE TABLE genaimeter_daily_usage_by_plan (
		tenant_id      TEXT    NOT NULL,
		day            INTEGER NOT NULL,
		feature        TEXT    NOT NULL,
		provider       TEXT    NOT NULL,
		model          TEXT    NOT NULL,
		plan           TEXT    NOT NULL,
		calls          INTEGER NOT NULL,
		unpriced_calls INTEGER NOT NULL,
		input_tokens   INTEGER NOT NULL,
		output_tokens  INTEGER NOT NULL,
		cost_usd       TEXT    NOT NULL,
		revenue_usd    TEXT    NOT NULL,
		PRIMARY KEY (tenant_id, day, feature, provider, model, plan)
	) WITHOUT ROWID;
	INSERT INTO genaimeter_daily_usage_by_plan (` + DailyUsageColumns + `) ` + DailyUsageFromRecords + `;
	DROP TABLE genaimeter_daily_usage;
	ALTER TABLE genaimeter_daily_usage_by_plan RENAME TO genaimeter_daily_usage;`

// DailyUsageColumns are the columns of genaimeter_daily_usage in the order
// DailyUsageFromRecords selects them.
const DailyUsageColumns = `tenant_id, day, feature, provider, model, plan, calls, unpriced_calls, input_tokens, output_tokens, cost_usd, revenue_usd`

// DailyUsageFromRecords selects the daily usage rollup's rows
// (DailyUsageColumns) of the records the balances have applied, as package
// balances keeps them: the tenant "unattributed" for a call without one,
// the UTC day, the catalog's provider and model before the span's
// (entitlement.ProviderOf, ModelOf), a call without cost unpriced, money
// summed exactly (genaimeter_decimal_sum; SQLite's SUM is a float).
const DailyUsageFromRecords = `SELECT
		CASE WHEN COALESCE(tenant_id, '') = '' THEN 'unattributed' ELSE tenant_id END,
		CAST(unixepoch(substr(time, 1, 10)) AS INTEGER),
		COALESCE(feature, ''),
		CASE WHEN COALESCE(catalog_provider, '') <> '' THEN catalog_provider ELSE COALESCE(provider, '') END,
		CASE WHEN COALESCE(catalog_model, '') <> '' THEN catalog_model
			WHEN COALESCE(response_model, '') <> '' THEN response_model ELSE COALESCE(request_model, '') END,
		COALESCE(plan, ''),
		count(*),
		sum(CASE WHEN COALESCE(cost_usd, '') = '' THEN 1 ELSE 0 END),
		sum(input_tokens),
		sum(output_tokens),
		` + DecimalSum + `(cost_usd),
		` + DecimalSum + `(revenue_usd)
	FROM usage_records WHERE rowid <= (SELECT applied_seq FROM genaimeter_balance_state)
	GROUP BY 1, 2, 3, 4, 5, 6`
