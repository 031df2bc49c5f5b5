"""The metric tables' SQL, run inside DuckDB (no Dagster here: the assets in
`defs/metrics` run these statements and describe them in the UI).

Ratios are computed from summed totals, never by averaging daily ratios, and a 0/0 ratio is
NULL (never 0 or 100%). Partitioned statements take `$start` and `$end` (inclusive UTC days).

Spend is split by meaning, as Cursor's usage events are: every event carries `chargedCents`,
and `isChargeable` says whether it is billed on top of the plan. `billed_cents` sums the
chargeable events' cents (they reconcile with `/teams/spend` `spendCents`),
`included_usage_cents` the others' (plan-included usage, paid by the subscription), and
`total_usage_cents` both (reconciles with `overallSpendCents`).
"""

from __future__ import annotations

from cursor_analytics.warehouse.finality import FINAL, FINGERPRINTED, PARTITION_FINALITY, PROVISIONAL


def rate(numerator: str, denominator: str) -> str:
    """SQL for a ratio of sums: NULL when the denominator is 0."""
    return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"


def _trailing(column: str, days: int) -> str:
    return f"sum(t.{column}) FILTER (WHERE t.day > d.day - {days})"


# Cents of usage events by meaning (`raw.usage_events` columns).
BILLED = "sum(charged_cents) FILTER (WHERE is_chargeable)"
INCLUDED = "sum(charged_cents) FILTER (WHERE NOT coalesce(is_chargeable, false))"


USER_DAILY_SQL = f"""
WITH usage AS (
    SELECT
        day,
        lower(email) AS email,
        max(user_id) AS user_id,
        bool_or(is_active) AS is_active,
        sum(chat_requests) AS chat_requests,
        sum(composer_requests) AS composer_requests,
        sum(agent_requests) AS agent_requests,
        sum(cmdk_usages) AS cmdk_usages,
        sum(bugbot_usages) AS bugbot_usages,
        sum(total_tabs_shown) AS tabs_shown,
        sum(total_tabs_accepted) AS tabs_accepted,
        sum(total_accepts) AS accepts,
        sum(total_rejects) AS rejects,
        sum(accepted_lines_added) AS accepted_lines_added,
        sum(total_lines_added) AS total_lines_added,
        -- fallback only: the field of the user's busiest row (ties: first model by name)
        first(most_used_model ORDER BY chat_requests + composer_requests + agent_requests
            + cmdk_usages + bugbot_usages DESC, most_used_model)
            FILTER (WHERE most_used_model IS NOT NULL) AS most_used_model
    FROM raw.daily_usage
    WHERE day BETWEEN $start AND $end AND email IS NOT NULL
    GROUP BY ALL
),
spend AS (
    SELECT
        day,
        lower(user_email) AS email,
        count(*) AS usage_events,
        {BILLED} AS billed_cents,
        {INCLUDED} AS included_usage_cents,
        sum(charged_cents) AS total_usage_cents,
        sum(requests_costs) AS requests_costs,
        sum(input_tokens) AS input_tokens,
        sum(output_tokens) AS output_tokens,
        sum(cache_write_tokens) AS cache_write_tokens,
        sum(cache_read_tokens) AS cache_read_tokens
    FROM raw.usage_events
    WHERE day BETWEEN $start AND $end AND user_email IS NOT NULL
    GROUP BY ALL
),
models AS (
    SELECT day, email, first(model ORDER BY requests DESC, model) AS most_used_model
    FROM (
        SELECT day, lower(user_email) AS email, model, count(*) AS requests
        FROM raw.usage_events
        WHERE day BETWEEN $start AND $end AND user_email IS NOT NULL AND model IS NOT NULL
        GROUP BY ALL
    )
    GROUP BY ALL
)
SELECT
    coalesce(u.day, s.day) AS day,
    coalesce(u.email, s.email) AS email,
    u.user_id,
    coalesce(u.is_active, s.usage_events > 0) AS is_active,
    coalesce(u.chat_requests, 0) AS chat_requests,
    coalesce(u.composer_requests, 0) AS composer_requests,
    coalesce(u.agent_requests, 0) AS agent_requests,
    coalesce(u.cmdk_usages, 0) AS cmdk_usages,
    coalesce(u.bugbot_usages, 0) AS bugbot_usages,
    coalesce(u.tabs_shown, 0) AS tabs_shown,
    coalesce(u.tabs_accepted, 0) AS tabs_accepted,
    coalesce(u.accepts, 0) AS accepts,
    coalesce(u.rejects, 0) AS rejects,
    coalesce(u.accepted_lines_added, 0) AS accepted_lines_added,
    coalesce(u.total_lines_added, 0) AS total_lines_added,
    {rate("u.tabs_accepted", "u.tabs_shown")} AS tab_acceptance_rate,
    {rate("u.accepts", "u.accepts + u.rejects")} AS suggestion_acceptance_rate,
    {rate("u.accepted_lines_added", "u.total_lines_added")} AS ai_line_share,
    coalesce(m.most_used_model, u.most_used_model) AS most_used_model,
    coalesce(s.usage_events, 0) AS usage_events,
    coalesce(s.billed_cents, 0) AS billed_cents,
    coalesce(s.included_usage_cents, 0) AS included_usage_cents,
    coalesce(s.total_usage_cents, 0) AS total_usage_cents,
    coalesce(s.requests_costs, 0) AS requests_costs,
    coalesce(s.input_tokens, 0) AS input_tokens,
    coalesce(s.output_tokens, 0) AS output_tokens,
    coalesce(s.cache_write_tokens, 0) AS cache_write_tokens,
    coalesce(s.cache_read_tokens, 0) AS cache_read_tokens
FROM usage u
FULL OUTER JOIN spend s ON u.day = s.day AND u.email = s.email
LEFT JOIN models m ON m.day = coalesce(u.day, s.day) AND m.email = coalesce(u.email, s.email)
"""


USER_DAILY_HEADLINE_SQL = """
SELECT
    count(DISTINCT email) FILTER (WHERE is_active) AS active_users,
    count(DISTINCT email) AS reporting_users
FROM analytics.user_daily_metrics
WHERE day BETWEEN $start AND $end
"""


TEAM_DAILY_SQL = f"""
WITH team AS (
SELECT
    day,
    count(*) FILTER (WHERE is_active) AS active_users,
    count(*) AS reporting_users,
    sum(tabs_shown) AS tabs_shown,
    sum(tabs_accepted) AS tabs_accepted,
    sum(accepts) AS accepts,
    sum(rejects) AS rejects,
    sum(accepted_lines_added) AS accepted_lines_added,
    sum(total_lines_added) AS total_lines_added,
    {rate("sum(tabs_accepted)", "sum(tabs_shown)")} AS tab_acceptance_rate,
    {rate("sum(accepts)", "sum(accepts) + sum(rejects)")} AS suggestion_acceptance_rate,
    {rate("sum(accepted_lines_added)", "sum(total_lines_added)")} AS ai_line_share,
    sum(chat_requests) AS chat_requests,
    sum(composer_requests) AS composer_requests,
    sum(agent_requests) AS agent_requests,
    sum(cmdk_usages) AS cmdk_usages,
    sum(bugbot_usages) AS bugbot_usages,
    sum(usage_events) AS usage_events,
    sum(billed_cents) AS billed_cents,
    sum(included_usage_cents) AS included_usage_cents,
    sum(total_usage_cents) AS total_usage_cents,
    sum(requests_costs) AS requests_costs,
    {rate("sum(billed_cents)", "count(*) FILTER (WHERE is_active)")} AS spend_per_active_user_cents
FROM analytics.user_daily_metrics
WHERE day BETWEEN $start AND $end
GROUP BY day
),
-- the agent's suggested and accepted lines from the Analytics API (NULL when not loaded)
agent AS (
    SELECT
        event_date AS day,
        sum(total_lines_suggested) AS agent_lines_suggested,
        sum(total_lines_accepted) AS agent_lines_accepted
    FROM raw.analytics_agent_edits
    WHERE event_date BETWEEN $start AND $end
    GROUP BY event_date
)
SELECT
    team.*,
    agent.agent_lines_suggested,
    agent.agent_lines_accepted,
    {rate("agent.agent_lines_accepted", "agent.agent_lines_suggested")} AS line_acceptance_rate
FROM team
LEFT JOIN agent USING (day)
"""


TEAM_WINDOW_HEADLINE_SQL = f"""
SELECT
    max(active_users) AS peak_active_users,
    {rate("sum(tabs_accepted)", "sum(tabs_shown)")} AS tab_acceptance_rate,
    {rate("sum(accepts)", "sum(accepts) + sum(rejects)")} AS suggestion_acceptance_rate,
    {rate("sum(accepted_lines_added)", "sum(total_lines_added)")} AS ai_line_share,
    {rate("sum(agent_lines_accepted)", "sum(agent_lines_suggested)")} AS line_acceptance_rate,
    {rate("sum(billed_cents)", "sum(active_users)")} AS spend_per_active_user_cents
FROM analytics.team_daily_metrics
WHERE day BETWEEN $start AND $end
"""


# The days whose daily usage and usage events are both loaded (the sources of the team's daily
# numbers), with their finality (every fingerprinted dataset holding the day final).
_LOADED_DAYS = f"""
SELECT day, bool_and(finality = '{FINAL}') AS final
FROM {PARTITION_FINALITY.ident}
WHERE day BETWEEN CAST($start AS DATE) - 27 AND $end
  AND dataset IN ({", ".join(f"'{d}'" for d in FINGERPRINTED)})
GROUP BY day
HAVING count(DISTINCT dataset) FILTER (WHERE dataset IN ('daily_usage', 'usage_events')) = 2
"""

ROLLING_SQL = f"""
WITH days AS (
    SELECT CAST(unnest(generate_series(CAST($start AS DATE), CAST($end AS DATE), INTERVAL 1 DAY)) AS DATE) AS day
),
team AS (
    SELECT
        d.day,
        {rate(_trailing("tabs_accepted", 7), _trailing("tabs_shown", 7))} AS tab_acceptance_rate_7d,
        {rate(_trailing("tabs_accepted", 28), _trailing("tabs_shown", 28))} AS tab_acceptance_rate_28d,
        {rate(_trailing("accepts", 7), f"{_trailing('accepts', 7)} + {_trailing('rejects', 7)}")} AS suggestion_acceptance_rate_7d,
        {rate(_trailing("accepts", 28), f"{_trailing('accepts', 28)} + {_trailing('rejects', 28)}")} AS suggestion_acceptance_rate_28d,
        {rate(_trailing("accepted_lines_added", 7), _trailing("total_lines_added", 7))} AS ai_line_share_7d,
        {rate(_trailing("accepted_lines_added", 28), _trailing("total_lines_added", 28))} AS ai_line_share_28d,
        coalesce({_trailing("billed_cents", 7)}, 0) AS billed_cents_7d,
        coalesce({_trailing("billed_cents", 28)}, 0) AS billed_cents_28d,
        coalesce({_trailing("included_usage_cents", 7)}, 0) AS included_usage_cents_7d,
        coalesce({_trailing("included_usage_cents", 28)}, 0) AS included_usage_cents_28d
    FROM days d
    LEFT JOIN analytics.team_daily_metrics t ON t.day BETWEEN d.day - 27 AND d.day
    GROUP BY d.day
),
users AS (
    SELECT
        d.day,
        count(DISTINCT u.email) FILTER (WHERE u.is_active AND u.day > d.day - 7) AS active_users_7d,
        count(DISTINCT u.email) FILTER (WHERE u.is_active) AS active_users_28d
    FROM days d
    LEFT JOIN analytics.user_daily_metrics u ON u.day BETWEEN d.day - 27 AND d.day
    GROUP BY d.day
),
loaded AS (
    SELECT
        d.day,
        count(l.day) FILTER (WHERE l.day > d.day - 7) AS days_loaded_7d,
        count(l.day) AS days_loaded_28d,
        count(l.day) FILTER (WHERE l.final) AS days_final_28d
    FROM days d
    LEFT JOIN ({_LOADED_DAYS}) l ON l.day BETWEEN d.day - 27 AND d.day
    GROUP BY d.day
)
SELECT
    team.*,
    users.active_users_7d,
    users.active_users_28d,
    loaded.days_loaded_7d,
    loaded.days_loaded_28d,
    CASE WHEN loaded.days_final_28d = 28 THEN '{FINAL}' ELSE '{PROVISIONAL}' END AS finality
FROM team JOIN users USING (day) JOIN loaded USING (day)
"""


ROLLING_HEADLINE_SQL = """
SELECT
    tab_acceptance_rate_7d,
    tab_acceptance_rate_28d,
    suggestion_acceptance_rate_28d,
    ai_line_share_28d,
    active_users_7d,
    active_users_28d,
    billed_cents_28d,
    days_loaded_28d
FROM analytics.team_rolling_metrics
WHERE day BETWEEN $start AND $end
ORDER BY day DESC
LIMIT 1
"""


AI_SHARE_SQL = f"""
WITH commits AS (
    SELECT *
    FROM raw.ai_commits
    WHERE day BETWEEN $start AND $end
    QUALIFY row_number() OVER (
        PARTITION BY day, commit_hash, repo_name ORDER BY created_at DESC NULLS LAST
    ) = 1
)
SELECT
    day,
    lower(user_email) AS email,
    repo_name,
    count(*) AS commits,
    sum(coalesce(tab_lines_added, 0) + coalesce(composer_lines_added, 0)) AS ai_lines_added,
    sum(coalesce(total_lines_added, 0)) AS total_lines_added,
    {rate("sum(coalesce(tab_lines_added, 0) + coalesce(composer_lines_added, 0))", "sum(coalesce(total_lines_added, 0))")} AS ai_share,
    sum(coalesce(tab_lines_added, 0) + coalesce(composer_lines_added, 0)) FILTER (WHERE is_primary_branch) AS primary_ai_lines_added,
    sum(coalesce(total_lines_added, 0)) FILTER (WHERE is_primary_branch) AS primary_total_lines_added,
    {rate("sum(coalesce(tab_lines_added, 0) + coalesce(composer_lines_added, 0)) FILTER (WHERE is_primary_branch)", "sum(coalesce(total_lines_added, 0)) FILTER (WHERE is_primary_branch)")} AS primary_ai_share
FROM commits
GROUP BY ALL
"""


AI_SHARE_HEADLINE_SQL = f"""
SELECT
    {rate("sum(ai_lines_added)", "sum(total_lines_added)")} AS ai_share,
    {rate("sum(primary_ai_lines_added)", "sum(primary_total_lines_added)")} AS primary_ai_share
FROM analytics.ai_code_share_daily
WHERE day BETWEEN $start AND $end
"""


MODEL_USAGE_SQL = f"""
SELECT
    day,
    coalesce(model, 'unknown') AS model,
    count(*) AS requests,
    sum(requests_costs) AS requests_costs,
    coalesce({BILLED}, 0) AS billed_cents,
    coalesce({INCLUDED}, 0) AS included_usage_cents,
    coalesce(sum(charged_cents), 0) AS total_usage_cents,
    sum(total_cents) AS token_cost_cents,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cache_write_tokens) AS cache_write_tokens,
    sum(cache_read_tokens) AS cache_read_tokens,
    count(DISTINCT lower(user_email)) AS users,
    {rate("count(*)", "sum(count(*)) OVER (PARTITION BY day)")} AS request_share
FROM raw.usage_events
WHERE day BETWEEN $start AND $end
GROUP BY 1, 2
"""


MODEL_USAGE_HEADLINE_SQL = f"""
WITH models AS (
    SELECT model, sum(requests) AS requests
    FROM analytics.model_usage_daily
    WHERE day BETWEEN $start AND $end
    GROUP BY model
)
SELECT
    count(*) AS models,
    sum(requests) AS requests,
    arg_max(model, requests) AS top_model,
    {rate("max(requests)", "sum(requests)")} AS top_model_request_share
FROM models
"""


SPEND_PER_USER_SQL = f"""
WITH latest AS (
    SELECT * FROM raw.spend_snapshots
    WHERE snapshot_at = (SELECT max(snapshot_at) FROM raw.spend_snapshots)
),
cycle AS (
    SELECT
        max(subscription_cycle_start) AS cycle_start,
        -- /teams/spend gives the cycle's start only: the cycle is one month long
        max(subscription_cycle_start) + INTERVAL 1 MONTH AS cycle_end,
        max(snapshot_at) AS snapshot_at
    FROM latest
),
events AS (
    SELECT
        lower(e.user_email) AS email,
        coalesce({BILLED}, 0) AS cycle_billed_cents,
        coalesce({INCLUDED}, 0) AS cycle_included_usage_cents,
        count(*) AS cycle_usage_events
    FROM raw.usage_events e, cycle c
    WHERE e."timestamp" >= c.cycle_start AND e."timestamp" <= c.snapshot_at
    GROUP BY 1
),
lines AS (
    SELECT lower(d.email) AS email, sum(d.accepted_lines_added) AS cycle_accepted_lines_added
    FROM raw.daily_usage d, cycle c
    WHERE d.day >= CAST(c.cycle_start AS DATE) AND d.day <= CAST(c.snapshot_at AS DATE)
    GROUP BY 1
)
SELECT
    lower(s.email) AS email,
    s.name,
    s.role,
    s.user_id,
    c.cycle_start,
    c.cycle_end,
    c.snapshot_at,
    s.spend_cents,
    s.overall_spend_cents,
    s.monthly_limit_dollars,
    s.hard_limit_override_dollars,
    s.effective_per_user_limit_dollars,
    coalesce(e.cycle_billed_cents, 0) AS cycle_billed_cents,
    coalesce(e.cycle_included_usage_cents, 0) AS cycle_included_usage_cents,
    coalesce(e.cycle_usage_events, 0) AS cycle_usage_events,
    coalesce(l.cycle_accepted_lines_added, 0) AS cycle_accepted_lines_added,
    {rate("coalesce(s.overall_spend_cents, s.spend_cents)", "l.cycle_accepted_lines_added")} AS cost_per_accepted_line_cents,
    CASE WHEN c.snapshot_at > c.cycle_start THEN greatest(
        s.spend_cents,
        s.spend_cents * epoch(c.cycle_end - c.cycle_start) / epoch(c.snapshot_at - c.cycle_start)
    ) END AS projected_cycle_spend_cents
FROM latest s CROSS JOIN cycle c
LEFT JOIN events e ON e.email = lower(s.email)
LEFT JOIN lines l ON l.email = lower(s.email)
"""


SEAT_UTILIZATION_SQL = """
WITH members AS (
    SELECT * FROM raw.team_members
    WHERE snapshot_at = (SELECT max(snapshot_at) FROM raw.team_members)
),
as_of AS (SELECT max(day) AS as_of_day FROM raw.daily_usage),
activity AS (
    SELECT
        lower(d.email) AS email,
        max(d.day) FILTER (WHERE d.is_active) AS last_active_day,
        count(DISTINCT d.day) FILTER (WHERE d.is_active AND d.day > a.as_of_day - 7) AS active_days_7d,
        count(DISTINCT d.day) FILTER (WHERE d.is_active AND d.day > a.as_of_day - 28) AS active_days_28d
    FROM raw.daily_usage d, as_of a
    GROUP BY 1
),
seats AS (
    SELECT
        m.*,
        NOT coalesce(m.is_removed, false) AND coalesce(m.role, '') <> 'free-owner' AS is_billable_seat
    FROM members m
)
SELECT
    lower(m.email) AS email,
    m.name,
    m.role,
    m.user_id,
    m.is_billable_seat,
    a.as_of_day,
    act.last_active_day,
    coalesce(act.active_days_7d, 0) AS active_days_7d,
    coalesce(act.active_days_28d, 0) AS active_days_28d,
    m.is_billable_seat AND coalesce(act.active_days_7d, 0) = 0 AS idle_7d,
    m.is_billable_seat AND coalesce(act.active_days_28d, 0) = 0 AS idle_28d
FROM seats m CROSS JOIN as_of a
LEFT JOIN activity act ON act.email = lower(m.email)
"""


SEAT_HEADLINE_SQL = f"""
SELECT
    count(*) AS seats,
    count(*) FILTER (WHERE NOT idle_7d) AS active_users_7d,
    count(*) FILTER (WHERE NOT idle_28d) AS active_users_28d,
    {rate("count(*) FILTER (WHERE NOT idle_7d)", "count(*)")} AS seat_utilization_7d,
    {rate("count(*) FILTER (WHERE NOT idle_28d)", "count(*)")} AS seat_utilization_28d
FROM analytics.seat_utilization
WHERE is_billable_seat
"""


# --- Analytics API metrics (raw.analytics_*) ---------------------------------------------------

AGENT_ACCEPTANCE_SQL = f"""
SELECT
    event_date AS day,
    sum(total_suggested_diffs) AS suggested_diffs,
    sum(total_accepted_diffs) AS accepted_diffs,
    sum(total_rejected_diffs) AS rejected_diffs,
    sum(total_lines_suggested) AS suggested_lines,
    sum(total_lines_accepted) AS accepted_lines,
    {rate("sum(total_accepted_diffs)", "sum(total_suggested_diffs)")} AS diff_acceptance_rate,
    {rate("sum(total_lines_accepted)", "sum(total_lines_suggested)")} AS line_acceptance_rate
FROM raw.analytics_agent_edits
WHERE event_date BETWEEN $start AND $end
GROUP BY event_date
"""


AGENT_ACCEPTANCE_HEADLINE_SQL = f"""
SELECT
    sum(accepted_diffs) AS accepted_diffs,
    {rate("sum(accepted_diffs)", "sum(suggested_diffs)")} AS diff_acceptance_rate,
    {rate("sum(accepted_lines)", "sum(suggested_lines)")} AS line_acceptance_rate
FROM analytics.agent_acceptance_daily
WHERE day BETWEEN $start AND $end
"""

# feature -> (raw table suffix, the column naming what was used)
ADOPTION_FEATURES = {
    "mcp": ("mcp", "mcp_server_name"),
    "command": ("commands", "command_name"),
    "plan": ("plans", "model"),
    "ask_mode": ("ask_mode", "model"),
}


def _adoption_union(prefix: str, measure: str) -> str:
    return "\n    UNION ALL\n    ".join(
        f"SELECT event_date AS day, '{feature}' AS feature, {column} AS item, {measure} "
        f"FROM raw.{prefix}{table} WHERE event_date BETWEEN $start AND $end GROUP BY ALL"
        for feature, (table, column) in ADOPTION_FEATURES.items()
    )


FEATURE_ADOPTION_SQL = f"""
WITH team AS (
    {_adoption_union("analytics_", "sum(usage) AS usage")}
),
users AS (
    {_adoption_union("analytics_by_user_", "count(DISTINCT lower(email)) FILTER (WHERE usage > 0) AS users")}
)
SELECT
    t.day,
    t.feature,
    t.item,
    t.usage,
    u.users,
    {rate("t.usage", "sum(t.usage) OVER (PARTITION BY t.day, t.feature)")} AS usage_share
FROM team t
LEFT JOIN users u ON u.day = t.day AND u.feature = t.feature AND u.item IS NOT DISTINCT FROM t.item
"""


FEATURE_ADOPTION_HEADLINE_SQL = """
SELECT
    sum(usage) FILTER (WHERE feature = 'mcp') AS mcp_uses,
    sum(usage) FILTER (WHERE feature = 'command') AS command_uses,
    sum(usage) FILTER (WHERE feature = 'plan') AS plan_uses,
    sum(usage) FILTER (WHERE feature = 'ask_mode') AS ask_mode_uses
FROM analytics.feature_adoption_daily
WHERE day BETWEEN $start AND $end
"""


ACTIVE_USERS_SQL = f"""
WITH days AS (
    SELECT date AS day, dau, cli_dau, cloud_agent_dau, bugbot_dau
    FROM raw.analytics_dau
    WHERE date BETWEEN $start AND $end
),
windows AS (
    SELECT
        d.day,
        count(DISTINCT lower(u.email)) FILTER (WHERE u.is_active AND u.day > d.day - 7) AS wau,
        count(DISTINCT lower(u.email)) FILTER (WHERE u.is_active) AS mau
    FROM days d
    LEFT JOIN raw.daily_usage u ON u.day BETWEEN d.day - 29 AND d.day
    GROUP BY d.day
)
SELECT
    d.day,
    d.dau,
    d.cli_dau,
    d.cloud_agent_dau,
    d.bugbot_dau,
    {rate("d.cli_dau", "d.dau")} AS cli_share,
    {rate("d.cloud_agent_dau", "d.dau")} AS cloud_agent_share,
    w.wau,
    w.mau,
    {rate("d.dau", "w.mau")} AS dau_mau_ratio
FROM days d JOIN windows w USING (day)
"""


ACTIVE_USERS_HEADLINE_SQL = f"""
SELECT
    arg_max(dau, day) AS dau,
    arg_max(cli_dau, day) AS cli_dau,
    arg_max(cloud_agent_dau, day) AS cloud_agent_dau,
    arg_max(wau, day) AS wau,
    arg_max(mau, day) AS mau,
    {rate("arg_max(dau, day)", "arg_max(mau, day)")} AS dau_mau_ratio
FROM analytics.active_users_daily
WHERE day BETWEEN $start AND $end
"""
