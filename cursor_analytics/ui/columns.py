"""What every column of every table means.

One entry per DuckDB table (`schema.name`, the asset key's path), one description per column.
The descriptions are shown in the Dagster UI as the asset's column schema
(`metadata.column_schema` and `metadata.table_column_schema` read them from here) and are the
table reference, docs/tables.md (`python -m cursor_analytics.ui.columns > docs/tables.md`): the
contract a downstream team builds on.
"""

from __future__ import annotations

from cursor_analytics.cursor_api import FIELDS

COMMON = {
    "raw": "The record exactly as the API sent it (JSON): fields this version does not model are kept here.",
    "_loaded_at": "When this row was written to DuckDB (UTC).",
}
SNAPSHOT_AT = "When the snapshot was taken (UTC); every row of one snapshot shares it."
EMAIL = "Member's email address, lower-cased: the key that joins users across tables."
FINALITY = (
    "'final' when the day's raw data was verified against the API after the day settled, "
    "else 'provisional' (the day's numbers may still change)."
)

TABLES: dict[str, dict[str, str]] = {
    # --- raw: one table per Cursor API endpoint ------------------------------------------------
    "raw.daily_usage": {
        "day": "UTC day of the row (the API's `day`, else the UTC date of `date`).",
        "user_id": "Cursor user id (`user_...`; older responses: a number, kept as text).",
        "email": "Member's email address as the API sent it.",
        "date_ms": "The API's `date` in epoch milliseconds (not always midnight).",
        "is_active": "Whether the member used Cursor that day.",
        "total_lines_added": "Lines added in the editor that day, by AI or by hand.",
        "total_lines_deleted": "Lines deleted in the editor that day.",
        "accepted_lines_added": "Lines added by accepted AI suggestions.",
        "accepted_lines_deleted": "Lines deleted by accepted AI suggestions.",
        "total_applies": "AI edits applied to files.",
        "total_accepts": "AI suggestions accepted.",
        "total_rejects": "AI suggestions rejected.",
        "total_tabs_shown": "Tab completions shown.",
        "total_tabs_accepted": "Tab completions accepted.",
        "composer_requests": "Composer requests.",
        "chat_requests": "Chat (ask) requests.",
        "agent_requests": "Agent requests.",
        "cmdk_usages": "Inline edit (Cmd-K) uses.",
        "subscription_included_reqs": "Requests covered by the subscription (events, not billable units).",
        "api_key_reqs": "Requests made with the member's own model API key.",
        "usage_based_reqs": "Requests billed as usage (events, not billable units).",
        "bugbot_usages": "Bugbot reviews.",
        "most_used_model": "The model the member used most that day.",
        "apply_most_used_extension": "File extension most edited by applied AI edits (no leading dot).",
        "tab_most_used_extension": "File extension where most tab completions were accepted (no leading dot).",
        "client_version": "Cursor version the member ran (may be absent).",
        **COMMON,
    },
    "raw.usage_events": {
        "day": "UTC day of `timestamp`.",
        "timestamp": "When the request was made (UTC).",
        "user_email": "Member who made the request.",
        "model": "Model that served the request.",
        "kind": "Billing category, e.g. 'Included in Business' or 'Usage-based'.",
        "max_mode": "Whether Max mode was on.",
        "requests_costs": "Billable request units (may be fractional).",
        "is_token_based_call": "Whether the request was billed by tokens (token columns are set only then).",
        "is_chargeable": "Whether the request is billed on top of the plan (false: usage the plan includes).",
        "is_headless": "Whether the request came from a headless client (CLI, cloud agent, automation).",
        "charged_cents": "The request's cost in cents (chargedCents), billed or included: chargeable events' sum over a cycle reconciles with spend_cents, all events' with overall_spend_cents.",
        "input_tokens": "Input tokens.",
        "output_tokens": "Output tokens.",
        "cache_write_tokens": "Tokens written to the prompt cache.",
        "cache_read_tokens": "Tokens read from the prompt cache.",
        "total_cents": "Token cost in cents before discounts.",
        "discount_percent_off": "Discount applied to the token cost, in percent.",
        "cursor_token_fee": "Cursor's fee on the tokens, when reported.",
        "conversation_id": "Conversation the request belongs to, when reported.",
        "service_account_id": "Service account that made the request, when it was one.",
        "service_account_name": "Name of that service account.",
        "cloud_agent_id": "Cloud agent that made the request, when it was one.",
        "automation_id": "Automation that made the request, when it was one.",
        "is_free_bugbot": "Whether the request was a free Bugbot review (older responses).",
        **COMMON,
    },
    "raw.ai_commits": {
        "day": "UTC day of the commit time (`commit_ts`).",
        "commit_hash": "Commit SHA; not unique (amended or re-ingested commits repeat).",
        "user_id": "Cursor user id of the author.",
        "user_email": "Author's email address.",
        "repo_name": "Repository.",
        "branch_name": "Branch the commit was made on.",
        "is_primary_branch": "Whether that branch is the repository's primary branch (may be null).",
        "commit_source": "Where the commit was made: ide, cli or cloud (absent in older responses).",
        "total_lines_added": "Lines added by the commit.",
        "total_lines_deleted": "Lines deleted by the commit.",
        "tab_lines_added": "Added lines written by Tab completions.",
        "tab_lines_deleted": "Deleted lines from Tab completions.",
        "composer_lines_added": "Added lines written by Composer or the agent.",
        "composer_lines_deleted": "Deleted lines from Composer or the agent.",
        "non_ai_lines_added": "Added lines written by hand (may be null).",
        "non_ai_lines_deleted": "Deleted lines by hand (may be null).",
        "message": "Commit message (may be null).",
        "commit_ts": "Commit time (UTC).",
        "created_at": "When Cursor ingested the commit (UTC).",
        **COMMON,
    },
    "raw.ai_changes": {
        "day": "UTC day of `created_at`.",
        "change_id": "Id of the accepted AI change.",
        "user_id": "Cursor user id of the member.",
        "user_email": "Member's email address.",
        "source": "TAB or COMPOSER.",
        "model": "Model that produced the change (may be null).",
        "total_lines_added": "Lines the change added.",
        "total_lines_deleted": "Lines the change deleted.",
        "created_at": "When the change was accepted (UTC).",
        **COMMON,
    },
    "raw.ai_change_files": {
        "day": "UTC day of the change (as in raw.ai_changes).",
        "change_id": "The change (raw.ai_changes.change_id) that touched this file.",
        "file_name": "File name; absent under privacy mode.",
        "file_extension": "File extension, without the leading dot.",
        "lines_added": "Lines the change added to this file.",
        "lines_deleted": "Lines the change deleted from this file.",
        "_loaded_at": COMMON["_loaded_at"],
    },
    "raw.audit_logs": {
        "day": "UTC day of `timestamp`.",
        "event_id": "Audit event id.",
        "timestamp": "When the event happened (UTC).",
        "ip_address": "IP address the action came from.",
        "user_email": "Member who acted.",
        "event_type": "What happened, e.g. a login, a settings or member change.",
        "event_data": "Details of the event (JSON).",
        **COMMON,
    },
    "raw.team_members": {
        "user_id": "Cursor user id (`user_...`; absent or numeric in older responses).",
        "name": "Member's name.",
        "email": "Member's email address.",
        "role": "member, owner or free-owner.",
        "is_removed": "Whether the member has been removed from the team.",
        "snapshot_at": SNAPSHOT_AT,
        **COMMON,
    },
    "raw.spend_snapshots": {
        "user_id": "Cursor user id.",
        "name": "Member's name.",
        "email": "Member's email address.",
        "role": "member, owner or free-owner.",
        "spend_cents": "On-demand spend this billing cycle, in cents (excludes included usage).",
        "overall_spend_cents": "Total spend this billing cycle, in cents, including included usage.",
        "fast_premium_requests": "Fast premium requests this cycle.",
        "hard_limit_override_dollars": "Per-member hard limit override in dollars (0 = no override).",
        "monthly_limit_dollars": "Monthly spend limit in dollars (null = no limit).",
        "effective_per_user_limit_dollars": "The limit that applies to this member, in dollars.",
        "snapshot_at": SNAPSHOT_AT,
        "subscription_cycle_start": "Start of the current billing cycle (UTC).",
        **COMMON,
    },
    "raw.repo_blocklists": {
        "repo_id": "Blocklist entry id (`repo_...`).",
        "url": "Repository URL.",
        "patterns": "Glob patterns Cursor ignores in that repository (JSON list; `*` = whole repository).",
        "snapshot_at": SNAPSHOT_AT,
        **COMMON,
    },
    # --- analytics: metrics derived in DuckDB ---------------------------------------------------
    "analytics.user_daily_metrics": {
        "day": "UTC day.",
        "email": EMAIL,
        "user_id": "Cursor user id (from daily usage; null for a user seen only in usage events).",
        "is_active": "Active that day (daily usage's flag; else: made at least one request).",
        "chat_requests": "Chat requests.",
        "composer_requests": "Composer requests.",
        "agent_requests": "Agent requests.",
        "cmdk_usages": "Inline edit (Cmd-K) uses.",
        "bugbot_usages": "Bugbot reviews.",
        "tabs_shown": "Tab completions shown.",
        "tabs_accepted": "Tab completions accepted.",
        "accepts": "AI suggestions accepted.",
        "rejects": "AI suggestions rejected.",
        "accepted_lines_added": "Lines added by accepted AI suggestions.",
        "total_lines_added": "Lines added in the editor, by AI or by hand.",
        "tab_acceptance_rate": "tabs_accepted / tabs_shown (null when no tab was shown).",
        "suggestion_acceptance_rate": "accepts / (accepts + rejects) (null when none).",
        "ai_line_share": "accepted_lines_added / total_lines_added: the share of lines added in the editor that came from accepted AI suggestions (not an acceptance rate; null when no line was added).",
        "most_used_model": "The model of most of the member's usage events that day (ties: first by name); else daily usage's mostUsedModel.",
        "usage_events": "Requests in raw.usage_events.",
        "billed_cents": "Spend billed on top of the plan: sum of chargedCents over the member's chargeable usage events that day.",
        "included_usage_cents": "Usage the plan includes: sum of chargedCents over the member's non-chargeable usage events that day (not billed on top).",
        "total_usage_cents": "billed_cents + included_usage_cents.",
        "requests_costs": "Sum of billable request units.",
        "input_tokens": "Sum of input tokens.",
        "output_tokens": "Sum of output tokens.",
        "cache_write_tokens": "Sum of prompt-cache write tokens.",
        "cache_read_tokens": "Sum of prompt-cache read tokens.",
        "finality": FINALITY,
    },
    "analytics.team_daily_metrics": {
        "day": "UTC day.",
        "active_users": "Members active that day.",
        "reporting_users": "Members with a row in user_daily_metrics that day (active or not).",
        "tabs_shown": "Tab completions shown, whole team.",
        "tabs_accepted": "Tab completions accepted, whole team.",
        "accepts": "AI suggestions accepted, whole team.",
        "rejects": "AI suggestions rejected, whole team.",
        "accepted_lines_added": "Lines added by accepted AI suggestions, whole team.",
        "total_lines_added": "Lines added in the editor, whole team.",
        "tab_acceptance_rate": "sum(tabs_accepted) / sum(tabs_shown): from team totals, not an average of members' rates.",
        "suggestion_acceptance_rate": "sum(accepts) / (sum(accepts) + sum(rejects)).",
        "ai_line_share": "sum(accepted_lines_added) / sum(total_lines_added): AI share of the lines added in the editor.",
        "chat_requests": "Chat requests.",
        "composer_requests": "Composer requests.",
        "agent_requests": "Agent requests.",
        "cmdk_usages": "Inline edit (Cmd-K) uses.",
        "bugbot_usages": "Bugbot reviews.",
        "usage_events": "Requests in raw.usage_events.",
        "billed_cents": "Spend billed on top of the plan, whole team (chargeable events' chargedCents).",
        "included_usage_cents": "Usage the plan includes, whole team (non-chargeable events' chargedCents).",
        "total_usage_cents": "billed_cents + included_usage_cents, whole team.",
        "requests_costs": "Billable request units, whole team.",
        "spend_per_active_user_cents": "billed_cents / active_users: billed spend per active member (null when nobody was active).",
        "agent_lines_suggested": "Lines Cursor's agent suggested (Analytics API agent-edits; null when not loaded).",
        "agent_lines_accepted": "Lines of accepted agent suggestions (Analytics API agent-edits).",
        "line_acceptance_rate": "agent_lines_accepted / agent_lines_suggested: of the lines the agent suggested, the share accepted (null when none or not loaded).",
        "finality": FINALITY,
    },
    "analytics.team_rolling_metrics": {
        "day": "UTC day: the last day of each trailing window.",
        "tab_acceptance_rate_7d": "sum(tabs_accepted) / sum(tabs_shown) over the day and the 6 before it.",
        "tab_acceptance_rate_28d": "The same over the day and the 27 before it.",
        "suggestion_acceptance_rate_7d": "sum(accepts) / (sum(accepts) + sum(rejects)) over 7 days.",
        "suggestion_acceptance_rate_28d": "The same over 28 days.",
        "ai_line_share_7d": "sum(accepted_lines_added) / sum(total_lines_added) over 7 days.",
        "ai_line_share_28d": "The same over 28 days.",
        "billed_cents_7d": "Billed spend over 7 days (loaded days only).",
        "billed_cents_28d": "Billed spend over 28 days (loaded days only).",
        "included_usage_cents_7d": "Plan-included usage cents over 7 days (loaded days only).",
        "included_usage_cents_28d": "Plan-included usage cents over 28 days (loaded days only).",
        "active_users_7d": "Distinct members active at least once in 7 days.",
        "active_users_28d": "Distinct members active at least once in 28 days.",
        "days_loaded_7d": "Days of the 7-day window with daily usage and usage events loaded: below 7, the window is partial.",
        "days_loaded_28d": "Days of the 28-day window with daily usage and usage events loaded: below 28, the window is partial.",
        "finality": "'final' when all 28 days of the window are loaded and final, else 'provisional'.",
    },
    "analytics.ai_code_share_daily": {
        "day": "UTC day of the commit time.",
        "email": EMAIL,
        "repo_name": "Repository.",
        "commits": "Commits (a commit reported twice the same day counts once).",
        "ai_lines_added": "tab_lines_added + composer_lines_added over the commits.",
        "total_lines_added": "Lines added by the commits.",
        "ai_share": "ai_lines_added / total_lines_added (null when no line was added).",
        "primary_ai_lines_added": "ai_lines_added over commits on the primary branch.",
        "primary_total_lines_added": "total_lines_added over commits on the primary branch.",
        "primary_ai_share": "primary_ai_lines_added / primary_total_lines_added.",
        "finality": FINALITY,
    },
    "analytics.model_usage_daily": {
        "day": "UTC day.",
        "model": "Model ('unknown' when the API did not say).",
        "requests": "Requests served by the model.",
        "requests_costs": "Billable request units.",
        "billed_cents": "Spend billed on top of the plan (chargeable events' chargedCents).",
        "included_usage_cents": "Usage the plan includes (non-chargeable events' chargedCents).",
        "total_usage_cents": "billed_cents + included_usage_cents.",
        "token_cost_cents": "Token cost in cents before discounts (sum of total_cents).",
        "input_tokens": "Input tokens.",
        "output_tokens": "Output tokens.",
        "cache_write_tokens": "Prompt-cache write tokens.",
        "cache_read_tokens": "Prompt-cache read tokens.",
        "users": "Distinct members who used the model.",
        "request_share": "requests / all requests that day.",
        "finality": FINALITY,
    },
    "analytics.spend_per_user": {
        "email": EMAIL,
        "name": "Member's name.",
        "role": "member, owner or free-owner.",
        "user_id": "Cursor user id.",
        "cycle_start": "Start of the current billing cycle (UTC).",
        "cycle_end": "End of the cycle: one month after its start.",
        "snapshot_at": "When the spend snapshot used here was taken.",
        "spend_cents": "On-demand spend this cycle, in cents (excludes included usage).",
        "overall_spend_cents": "Total spend this cycle, in cents, including included usage.",
        "monthly_limit_dollars": "Monthly spend limit in dollars (null = no limit).",
        "hard_limit_override_dollars": "Hard limit override in dollars (0 = none).",
        "effective_per_user_limit_dollars": "The limit that applies to this member, in dollars.",
        "cycle_billed_cents": "sum(chargedCents) of the member's chargeable usage events from the cycle start to the snapshot: reconciles with spend_cents.",
        "cycle_included_usage_cents": "sum(chargedCents) of the member's non-chargeable (plan-included) usage events in the same period.",
        "cycle_usage_events": "The member's usage events in the same period.",
        "cycle_accepted_lines_added": "Lines added by accepted AI suggestions in the cycle.",
        "cost_per_accepted_line_cents": "overall_spend_cents (billed and plan-included) / cycle_accepted_lines_added.",
        "projected_cycle_spend_cents": "max(spend_cents, spend_cents * cycle length / time elapsed in the cycle): linear projection of on-demand spend, never below the spend so far.",
    },
    "analytics.seat_utilization": {
        "email": EMAIL,
        "name": "Member's name.",
        "role": "member, owner or free-owner.",
        "user_id": "Cursor user id.",
        "is_billable_seat": "The member holds a paid seat: false for free-owner admins and removed members.",
        "as_of_day": "The latest day loaded in raw.daily_usage: the end of both windows.",
        "last_active_day": "The member's last active day (null: never active in the loaded days).",
        "active_days_7d": "Active days in the 7 days ending at as_of_day.",
        "active_days_28d": "Active days in the 28 days ending at as_of_day.",
        "idle_7d": "A billable seat with no active day in 7 days: an idle paid seat.",
        "idle_28d": "A billable seat with no active day in 28 days.",
    },
    "analytics.spend_budget": {
        "email": EMAIL,
        "name": "Member's name.",
        "role": "member, owner or free-owner.",
        "limit_dollars": "The member's spend limit in dollars: effective per-user limit, else monthly limit, else a non-zero hard limit override.",
        "spend_cents": "On-demand spend this cycle so far, in cents.",
        "projected_cycle_spend_cents": "Linear projection of spend_cents to the end of the cycle, never below spend_cents.",
        "projected_overage_cents": "projected_cycle_spend_cents - limit_dollars * 100 (negative: headroom).",
        "projected_share_of_limit": "projected_cycle_spend_cents / (limit_dollars * 100).",
        "projected_over_limit": "The projection exceeds the limit.",
        "at_limit_now": "spend_cents has already reached the limit.",
        "cycle_start": "Start of the current billing cycle (UTC).",
        "cycle_end": "End of the cycle: one month after its start.",
        "snapshot_at": "When the spend snapshot used here was taken.",
    },
}


# --- the Analytics API: raw.analytics_<metric> and raw.analytics_by_user_<metric> ---------------
# Each column is the documented field of Cursor's Analytics API, so one text per field name.
ANALYTICS_FIELD_DOCS = {
    "date": "UTC day of the row (the API's `date`).",
    "event_date": "UTC day of the row (the API's `event_date`).",
    "email": "Member the row is about (the key the by-user endpoint listed the rows under).",
    "user_id": "That member's Cursor user id (from the response's `params.userMappings`).",
    "dau": "Members who used at least one AI feature that day.",
    "cli_dau": "Of them, members who used the Cursor CLI.",
    "cloud_agent_dau": "Of them, members who used cloud agents.",
    "bugbot_dau": "Of them, members who used Bugbot.",
    "total_suggested_diffs": "Agent diffs suggested.",
    "total_accepted_diffs": "Agent diffs accepted.",
    "total_rejected_diffs": "Agent diffs rejected.",
    "total_suggestions": "Tab completions suggested.",
    "total_accepts": "Suggestions accepted.",
    "total_rejects": "Suggestions rejected.",
    "total_green_lines_accepted": "Added (green) lines of accepted suggestions.",
    "total_red_lines_accepted": "Deleted (red) lines of accepted suggestions.",
    "total_green_lines_rejected": "Added (green) lines of rejected suggestions.",
    "total_red_lines_rejected": "Deleted (red) lines of rejected suggestions.",
    "total_green_lines_suggested": "Added (green) lines suggested.",
    "total_red_lines_suggested": "Deleted (red) lines suggested.",
    "total_lines_suggested": "Lines suggested (green + red).",
    "total_lines_accepted": "Lines accepted (green + red).",
    "total_lines_rejected": "Lines rejected.",
    "model": "Model (`default` = Auto).",
    "messages": "Messages sent to the model.",
    "users": "Members who used it.",
    "client_version": "Cursor version.",
    "user_count": "Members on that version.",
    "percentage": "Share of the day's members on that version (a fraction, 0..1).",
    "file_extension": "File extension (no leading dot): one of the day's top 5 by suggestion volume.",
    "total_files": "Files with suggestions.",
    "tool_name": "MCP tool called.",
    "mcp_server_name": "MCP server of the tool.",
    "usage": "Uses that day.",
    "command_name": "Command used.",
    "skill_name": "Skill used.",
}


def _analytics_tables() -> dict[str, dict[str, str]]:
    by_user_raw = {
        "raw": "The row exactly as the API sent it (JSON), plus the `email` it was listed under "
        "and that member's `user_id`."
    }
    return {
        f"raw.{record_type}": {
            **{c: ANALYTICS_FIELD_DOCS[c] for c in columns},
            **COMMON,
            **(by_user_raw if record_type.startswith("analytics_by_user_") else {}),
        }
        for record_type, columns in FIELDS.items()
        if record_type.startswith("analytics_") and record_type != "analytics_leaderboard"
    }


TABLES.update(_analytics_tables())
TABLES["raw.analytics_leaderboard"] = {
    "board": "`tab` (tab_leaderboard) or `agent` (agent_leaderboard).",
    "rank": "Rank on that board (1 = most lines accepted).",
    "email": "Member's email address as the API sent it.",
    "user_id": "Cursor user id.",
    "total_accepts": "Suggestions (tab) or diffs (agent) accepted over the range.",
    "total_lines_accepted": "Lines accepted over the range.",
    "total_lines_suggested": "Lines suggested over the range.",
    "line_acceptance_ratio": "total_lines_accepted / total_lines_suggested as Cursor reports it (can exceed 1).",
    "accept_ratio": "Tab board only: accepted / suggested tab completions.",
    "favorite_model": "Agent board, older responses: the member's most used model.",
    "profile_picture_url": "Member's avatar URL.",
    "snapshot_at": SNAPSHOT_AT,
    "start_date": "First day of the ranked range (UTC).",
    "end_date": "Last day of the ranked range (UTC).",
    **COMMON,
}
TABLES["raw.billing_groups"] = {
    "group_id": "Billing group id (`group_...`; `group_unassigned` for members in no group).",
    "name": "Group name.",
    "type": "Group type (`BILLING`).",
    "directory_group_id": "Directory (SCIM) group it is synced from, if any.",
    "member_count": "Members in the group.",
    "spend_cents": "The group's spend in the billing cycle, in cents.",
    "created_at": "When the group was created (UTC).",
    "updated_at": "When the group was last changed (UTC).",
    "current_members": "Current members (JSON: userId, name, email, joinedAt, leftAt, spendCents).",
    "former_members": "Members who left the group during the cycle (JSON, same fields).",
    "daily_spend": "Spend per day of the cycle (JSON list of {date, spendCents}).",
    "snapshot_at": SNAPSHOT_AT,
    "cycle_start": "Start of the billing cycle (UTC).",
    "cycle_end": "End of the billing cycle (UTC).",
    **COMMON,
}
TABLES["analytics.agent_acceptance_daily"] = {
    "day": "UTC day.",
    "suggested_diffs": "Agent diffs suggested (Analytics API), whole team.",
    "accepted_diffs": "Agent diffs accepted.",
    "rejected_diffs": "Agent diffs rejected.",
    "suggested_lines": "Lines the agent suggested (added + deleted).",
    "accepted_lines": "Lines of accepted agent suggestions (added + deleted).",
    "diff_acceptance_rate": "accepted_diffs / suggested_diffs (null when none was suggested).",
    "line_acceptance_rate": "accepted_lines / suggested_lines (null when none was suggested).",
    "finality": FINALITY,
}
TABLES["analytics.feature_adoption_daily"] = {
    "day": "UTC day.",
    "feature": "`mcp`, `command`, `plan` (plan mode) or `ask_mode`.",
    "item": "What was used: the MCP server, the command, or the model (plan and ask mode; `default` = Auto).",
    "usage": "Uses that day, whole team.",
    "users": "Members who used it that day (by-user endpoints; null when they are not loaded).",
    "usage_share": "usage / all uses of the feature that day.",
    "finality": FINALITY,
}
TABLES["analytics.active_users_daily"] = {
    "day": "UTC day.",
    "dau": "Members who used an AI feature that day (Analytics API).",
    "cli_dau": "Of them, members who used the CLI.",
    "cloud_agent_dau": "Of them, members who used cloud agents.",
    "bugbot_dau": "Of them, members who used Bugbot.",
    "cli_share": "cli_dau / dau.",
    "cloud_agent_share": "cloud_agent_dau / dau.",
    "wau": "Distinct members active (daily usage) in the 7 days ending that day.",
    "mau": "Distinct members active (daily usage) in the 30 days ending that day.",
    "dau_mau_ratio": "dau / mau (stickiness).",
    "finality": FINALITY,
}


def describe(fqn: str) -> dict[str, str]:
    """Column descriptions of table `fqn` (`schema.name`); empty for a table not listed here."""
    return dict(TABLES.get(fqn, {}))


def reference_markdown() -> str:
    """Every table and its columns as markdown sections."""
    sections = []
    for fqn, described in TABLES.items():
        rows = "\n".join(f"| `{name}` | {text.replace('|', '/')} |" for name, text in described.items())
        sections.append(f"## `{fqn}`\n\n| column | meaning |\n|---|---|\n{rows}")
    return "\n\n".join(sections)


TABLES_DOC_INTRO = """# Tables

Every DuckDB table cursor-analytics writes, and what each column means: the contract a downstream
team builds on (asset key `schema/name`, table `schema.name` in the file `CURSOR_ANALYTICS_DB`
names). Generated from `cursor_analytics/ui/columns.py`, which the UI's column schemas also read:
`python -m cursor_analytics.ui.columns > docs/tables.md` (a test keeps the two equal).
"""


def tables_document() -> str:
    """docs/tables.md: the intro and every table's columns."""
    return f"{TABLES_DOC_INTRO}\n{reference_markdown()}\n"


if __name__ == "__main__":
    print(tables_document(), end="")
