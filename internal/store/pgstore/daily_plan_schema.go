package pgstore

// dailyByPlanSchema is migration 8 (sqlitestore's 9, whose comment says
// why): the daily usage rollup gets the call's plan as a dimension, its rows
// recomputed from the records the balances have applied.
const dailyByPlanSchema = `
	DELETE FROM genaimeter_daily_usage;
	ALTER TABLE genaimeter_daily_usage ADD COLUMN plan text NOT NULL;
	ALTER TABLE genaimeter_daily_usage DROP CONSTRAINT genaimeter_daily_usage_pkey,
		ADD PRIMARY KEY (tenant_id, day, feature, provider, model, plan);
	INSERT INTO genaimeter_daily_usage (` + DailyUsageColumns + `) ` + DailyUsageFromRecords

// DailyUsageColumns are the columns of genaimeter_daily_usage in the order
// DailyUsageFromRecords selects them.
const DailyUsageColumns = `tenant_id, day, feature, provider, model, plan, calls, unpriced_calls, input_tokens, output_tokens, cost_usd, revenue_usd`

// DailyUsageFromRecords selects the daily usage rollup's rows of the records
// the balances have applied (seq up to applied_seq), as package balances
// keeps them (see sqlitestore.DailyUsageFromRecords); numeric sums exactly.
const DailyUsageFromRecords = `SELECT
		CASE WHEN COALESCE(tenant_id, '') = '' THEN 'unattributed' ELSE tenant_id END,
		extract(epoch FROM date_trunc('day', time AT TIME ZONE 'UTC'))::bigint,
		COALESCE(feature, ''),
		CASE WHEN COALESCE(catalog_provider, '') <> '' THEN catalog_provider ELSE COALESCE(provider, '') END,
		CASE WHEN COALESCE(catalog_model, '') <> '' THEN catalog_model
			WHEN COALESCE(response_model, '') <> '' THEN response_model ELSE COALESCE(request_model, '') END,
		COALESCE(plan, ''),
		count(*),
		count(*) FILTER (WHERE cost_usd IS NULL),
		sum(input_tokens),
		sum(output_tokens),
		COALESCE(sum(cost_usd), 0),
		COALESCE(sum(revenue_usd), 0)
	FROM usage_records WHERE seq <= (SELECT applied_seq FROM genaimeter_balance_state)
	GROUP BY 1, 2, 3, 4, 5, 6`
