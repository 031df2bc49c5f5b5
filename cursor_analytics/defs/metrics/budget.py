"""The budget view: members whose projected spend at the end of the billing cycle exceeds their
spend limit, as analytics.spend_budget and a WARN check."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.ui.metadata import markdown_table
from cursor_analytics.warehouse import metrics as sql

# The limit Cursor enforces: the effective per-user limit, else the monthly limit, else a
# non-zero hard limit override (older responses).
LIMIT_DOLLARS = (
    "coalesce(effective_per_user_limit_dollars, monthly_limit_dollars, "
    "nullif(hard_limit_override_dollars, 0))"
)

SPEND_BUDGET_SQL = f"""
WITH limited AS (
    SELECT *, {LIMIT_DOLLARS} AS limit_dollars
    FROM analytics.spend_per_user
    WHERE {LIMIT_DOLLARS} IS NOT NULL
)
SELECT
    email,
    name,
    role,
    limit_dollars,
    spend_cents,
    projected_cycle_spend_cents,
    projected_cycle_spend_cents - limit_dollars * 100 AS projected_overage_cents,
    {sql.rate("projected_cycle_spend_cents", "limit_dollars * 100")} AS projected_share_of_limit,
    coalesce(projected_cycle_spend_cents > limit_dollars * 100, false) AS projected_over_limit,
    coalesce(spend_cents >= limit_dollars * 100, false) AS at_limit_now,
    cycle_start,
    cycle_end,
    snapshot_at
FROM limited
ORDER BY projected_over_limit DESC, projected_overage_cents DESC NULLS LAST, email
"""

BUDGET_HEADLINE_SQL = """
SELECT
    count(*) AS members_with_limit,
    count(*) FILTER (WHERE projected_over_limit) AS members_projected_over_limit,
    count(*) FILTER (WHERE at_limit_now) AS members_at_limit_now,
    coalesce(sum(projected_overage_cents) FILTER (WHERE projected_over_limit), 0) AS projected_overage_cents
FROM analytics.spend_budget
"""

NO_MEMBER_PROJECTED_OVER_LIMIT = "no_member_projected_over_limit"


@dg.asset(
    key=["analytics", "spend_budget"],
    group_name=metrics.GROUP,
    kinds=metrics.KINDS,
    owners=metrics.OWNERS,
    pool="duckdb",
    deps=[metrics.spend_per_user],
)
def spend_budget(duckdb: DuckDBResource) -> dg.MaterializeResult:
    """Per member with a spend limit, the current billing cycle's spend against that limit,
    from analytics.spend_per_user.

    - `limit_dollars`: the limit Cursor enforces (`effectivePerUserLimitDollars`, else
      `monthlyLimitDollars`, else a non-zero `hardLimitOverrideDollars`). Members without a
      limit are not listed.
    - `projected_overage_cents = projected_cycle_spend_cents - limit_dollars * 100`
    - `projected_share_of_limit = projected_cycle_spend_cents / (limit_dollars * 100)` (NULL for
      a $0 limit)
    - `projected_over_limit`: the projection to the cycle end exceeds the limit;
      `at_limit_now`: cycle-to-date on-demand spend has already reached it."""
    return metrics.derive_table(duckdb, "spend_budget", SPEND_BUDGET_SQL, [], BUDGET_HEADLINE_SQL)


@dg.asset_check(
    asset=spend_budget,
    name=NO_MEMBER_PROJECTED_OVER_LIMIT,
    description="WARN when a member's projected spend at the end of the billing cycle exceeds "
    "their spend limit (they will be cut off before the cycle ends unless the limit is raised).",
    blocking=False,
)
def no_member_projected_over_limit(duckdb: DuckDBResource) -> dg.AssetCheckResult:
    with duckdb.get_connection() as conn:
        over = conn.execute(
            """
            SELECT email, limit_dollars, spend_cents, projected_cycle_spend_cents
            FROM analytics.spend_budget WHERE projected_over_limit
            ORDER BY projected_overage_cents DESC, email
            """
        ).fetchall()
    rows = [
        (email, f"${limit:,.0f}", f"${spend / 100:,.2f}", f"${projected / 100:,.2f}")
        for email, limit, spend, projected in over
    ]
    return dg.AssetCheckResult(
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "members_projected_over_limit": len(over),
            "members": dg.MetadataValue.md(
                markdown_table(["member", "limit", "spend this cycle", "projected at cycle end"], rows)
            ),
        },
    )


assets = [spend_budget]
asset_checks = [no_member_projected_over_limit]
