"""Small charts of the metric tables, attached to materializations as markdown metadata.

Each chart is read from DuckDB, drawn with matplotlib's object-oriented API on the Agg canvas
(no display, no global pyplot state, no network), saved as a palette PNG of a few kilobytes and
embedded in markdown as a `data:` URI, which the Dagster UI shows on the asset's page. A range
run records the same metadata on every partition, so charts are kept small. matplotlib is
imported on first use: loading the definitions (every code server start) does not pay for it.
"""

from __future__ import annotations

import base64
import io
from datetime import date, datetime, time, timedelta
from typing import Any

import dagster as dg
import duckdb

CHART_DAYS = 30  # trend charts show the 30 days ending at the run's last day
TOP_MEMBERS = 15  # spend chart: the members who spent most
TOP_MODELS = 6  # model mix: the most-used models; the rest are summed as "other"
WIDTH, HEIGHT, DPI = 7.0, 3.0, 80
COLORS = ["#4f43dd", "#e3526a", "#1b9e77", "#f5a623", "#7a7a7a", "#00a3c4", "#b15928"]


def _figure() -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")


def _markdown(fig: Any, title: str, caption: str) -> dg.MetadataValue:
    """The figure as a PNG embedded in markdown, under a title, with a caption."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    # A palette of 64 colours keeps the PNG a few kilobytes: flat lines and bars lose nothing.
    image = Image.open(buffer).convert("RGB").quantize(colors=64)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    encoded = base64.b64encode(out.getvalue()).decode("ascii")
    return dg.MetadataValue.md(f"**{title}**\n\n![{title}](data:image/png;base64,{encoded})\n\n{caption}")


def _no_data(title: str, what: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"**{title}**\n\n_No {what} loaded yet._")


def _date_axis(ax: Any, days: list[date]) -> None:
    """Whole days on the x axis (at most about 8 labels), half a day of margin each side."""
    import matplotlib.dates as mdates

    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, -(-len(days) // 8))))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b %d"))
    first, last = (datetime.combine(d, time()) for d in (days[0], days[-1]))
    ax.set_xlim(first - timedelta(hours=12), last + timedelta(hours=12))


def _style(ax: Any) -> None:
    ax.grid(axis="y", alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=8)


def trend_start(end: date) -> date:
    return end - timedelta(days=CHART_DAYS - 1)


def acceptance_rate_trend(conn: duckdb.DuckDBPyConnection, end: date) -> dg.MetadataValue:
    """Tab and suggestion acceptance rates and the AI share of edited lines per day, from
    analytics.team_daily_metrics."""
    from matplotlib.ticker import PercentFormatter

    title = "Acceptance rates and AI line share, team, per day"
    rows = conn.execute(
        "SELECT day, tab_acceptance_rate, suggestion_acceptance_rate, ai_line_share "
        "FROM analytics.team_daily_metrics WHERE day BETWEEN ? AND ? ORDER BY day",
        [trend_start(end), end],
    ).fetchall()
    if not rows:
        return _no_data(title, "team metrics")
    days = [r[0] for r in rows]
    fig = _figure()
    ax = fig.add_subplot()
    labels = ("tab completions accepted", "suggestions accepted", "AI share of lines")
    for i, label in enumerate(labels, start=1):
        values = [float("nan") if r[i] is None else r[i] for r in rows]
        ax.plot(days, values, marker="o", markersize=3, linewidth=1.5, color=COLORS[i - 1], label=label)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    _date_axis(ax, days)
    _style(ax)
    ax.legend(loc="lower left", fontsize=8, frameon=False, ncols=3)
    return _markdown(
        fig,
        title,
        f"{days[0]} .. {days[-1]}: accepted / shown tab completions, accepted / (accepted + "
        "rejected) suggestions, and AI-accepted lines / all lines added in the editor (AI line "
        "share); ratios of the team's daily totals.",
    )


def spend_per_member(conn: duckdb.DuckDBPyConnection) -> dg.MetadataValue:
    """This cycle's spend per member (included usage and on-demand), from
    analytics.spend_per_user."""
    title = "Spend per member, current billing cycle"
    rows = conn.execute(
        f"""
        SELECT email,
               coalesce(overall_spend_cents, spend_cents, 0) / 100.0 AS overall_dollars,
               coalesce(spend_cents, 0) / 100.0 AS on_demand_dollars
        FROM analytics.spend_per_user
        ORDER BY overall_dollars DESC, email
        LIMIT {TOP_MEMBERS}
        """
    ).fetchall()
    if not rows:
        return _no_data(title, "spend snapshot")
    rows = rows[::-1]  # largest at the top
    names = [r[0].split("@")[0] for r in rows]
    overall = [r[1] for r in rows]
    on_demand = [min(r[2], r[1]) for r in rows]
    fig = _figure()
    fig.set_figheight(max(HEIGHT, 0.22 * len(rows) + 0.8))
    ax = fig.add_subplot()
    ax.barh(names, overall, color=COLORS[0], label="included usage")
    ax.barh(names, on_demand, color=COLORS[1], label="on-demand")
    ax.set_xlabel("US dollars", fontsize=8)
    _style(ax)
    ax.grid(axis="x", alpha=0.3)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return _markdown(
        fig,
        title,
        f"The {len(rows)} members who spent most: overall spend (bar) and its on-demand part "
        "(spend beyond included usage).",
    )


def model_mix(conn: duckdb.DuckDBPyConnection, end: date) -> dg.MetadataValue:
    """Share of requests per model per day, from analytics.model_usage_daily."""
    from matplotlib.ticker import PercentFormatter

    title = "Model mix, share of requests per day"
    start = trend_start(end)
    top = [
        r[0]
        for r in conn.execute(
            f"SELECT model FROM analytics.model_usage_daily WHERE day BETWEEN ? AND ? "
            f"GROUP BY model ORDER BY sum(requests) DESC, model LIMIT {TOP_MODELS}",
            [start, end],
        ).fetchall()
    ]
    if not top:
        return _no_data(title, "model usage")
    rows = conn.execute(
        """
        SELECT day,
               CASE WHEN list_contains(?, model) THEN model ELSE 'other' END AS model,
               sum(requests) / sum(sum(requests)) OVER (PARTITION BY day) AS share
        FROM analytics.model_usage_daily
        WHERE day BETWEEN ? AND ?
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        [top, start, end],
    ).fetchall()
    days = sorted({r[0] for r in rows})
    share = {(r[0], r[1]): r[2] for r in rows}
    models = top + (["other"] if any(r[1] == "other" for r in rows) else [])
    fig = _figure()
    ax = fig.add_subplot()
    bottom = [0.0] * len(days)
    for i, model in enumerate(models):
        values = [float(share.get((d, model), 0.0)) for d in days]
        ax.bar(days, values, bottom=bottom, width=0.8, color=COLORS[i % len(COLORS)], label=model)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    _date_axis(ax, days)
    _style(ax)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    return _markdown(
        fig,
        title,
        f"{days[0]} .. {days[-1]}: requests per model / all requests that day "
        f"(the {len(top)} most-used models; the rest as 'other').",
    )
