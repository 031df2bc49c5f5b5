"""Sensors: `stale_partitions_sensor` repairs the days whose data changed after they were loaded
and finalizes the days that settled; `freshness_alert_sensor` posts an alert when an asset's
freshness policy fails. Both ship RUNNING.

The stale-partition sensor, each tick (default hourly):
1. reads what DuckDB holds for the lookback window (yesterday and the days before it), briefly,
   on a read-only connection, retrying while a run holds the file;
2. reads the API's fingerprint of those days within a request budget: one ranged daily-usage
   call, then one pageSize=1 count per day for usage events, commits and changes, spending the
   budget on provisional days first, then on the days compared longest ago (each dataset's daily
   access probe takes at most a third of the budget);
3. requests a run for exactly the days that are missing or differ, contiguous days grouped into
   one range run of their raw assets and the metrics derived from them day by day (trailing-window
   metrics follow through the automation condition);
4. marks final the settled days whose fingerprint matched (a short write of
   meta.partition_finality) and requests a metrics-only run so their `finality` column follows;
5. alerts when a final day changed.
Its cursor keeps what it compared per day; a tick with nothing to do says why in its SkipReason.
"""

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from cursor_analytics.cursor_api import InvalidCredentialsError, days_in
from cursor_analytics.defs.freshness import fingerprints as fp
from cursor_analytics.defs.freshness.alerts import send_alert
from cursor_analytics.defs.ingestion import access
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.jobs import cursor_daily_job
from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.defs.partitions import daily_partitions, range_tags
from cursor_analytics.defs.resources import MISSING_KEY, CursorApiResource
from cursor_analytics.warehouse import Staging, WarehouseLockedError, connect_briefly, warehouse_exists
from cursor_analytics.warehouse.finality import (
    FINGERPRINTED,
    StaleDataSettings,
    as_of_tags,
    finality_table,
    settles_at,
    utc_now,
    verification_rows,
)

TRIGGER_TAG = "cursor_analytics/trigger"
REASON_TAG = "cursor_analytics/reason"

RAW_KEYS = {asset.key.path[-1]: asset.key for asset in raw.partitioned_raw_assets}
PARTITIONED_DATASETS = tuple(RAW_KEYS)
RAW_DATASETS = {
    asset.key: access.dataset_of(asset) for asset in (*raw.partitioned_raw_assets, *raw.snapshot_raw_assets)
}
METRIC_KEYS = [asset.key for asset in metrics.partitioned_metric_assets]


def same_day_metrics(raw_keys: set[dg.AssetKey]) -> list[dg.AssetKey]:
    """The partitioned metrics derived day by day (identity partition mapping) from `raw_keys`,
    directly or through one another. Trailing-window metrics are left out: the automation
    condition re-derives every window that holds a changed day."""
    selected, found = set(raw_keys), []
    changed = True
    while changed:
        changed = False
        for asset in metrics.partitioned_metric_assets:
            spec = next(iter(asset.specs))
            if spec.key in selected or any(d.partition_mapping is not None for d in spec.deps):
                continue
            if any(d.asset_key in selected for d in spec.deps):
                selected.add(spec.key)
                found.append(spec.key)
                changed = True
    return [key for key in METRIC_KEYS if key in found]


def read_stored_days(path: str, first: date, last: date) -> fp.StoredDays:
    if not warehouse_exists(path):
        return fp.StoredDays({d: fp.empty_fingerprint() for d in days_in(first, last)}, {})
    with connect_briefly(path, read_only=True) as conn:
        return fp.read_stored(conn, first, last)


def write_confirmations(
    path: str, confirmed: list[fp.DayComparison], datasets: list[str], when: datetime, settle_days: int
) -> None:
    """Record the matching fingerprints of settled days as final verifications (one short
    transaction per dataset and run of consecutive days)."""
    by_day = {c.day: c for c in confirmed}
    with connect_briefly(path, read_only=False) as conn:
        for first, last, _ in fp.contiguous({c.day: set() for c in confirmed}):
            days = days_in(first, last)
            for dataset in datasets:
                table = finality_table(dataset)
                rows = verification_rows(
                    dataset,
                    days,
                    when,
                    settle_days,
                    source="fingerprint",
                    fingerprints={d: by_day[d].api[dataset] for d in days},
                )
                with Staging([table]) as staging:
                    staging.append(table, rows)
                    staging.publish(conn, (first, last))


def probe_share(budget: int) -> int:
    """How many of a tick's `budget` requests may go to access probes: a third (at least one,
    and never the last request, which reads daily usage). With the default budget of 25, the 30
    datasets are probed over the day's first four ticks, and each of those still compares the
    days with 17 requests (one ranged daily-usage call and 16 counts: five days in full)."""
    return min(budget - 1, max(1, budget // 3))


def _count_order(
    days: list[date], stored: fp.StoredDays, previous: dict[str, Any], datasets: list[str]
) -> Callable[[fp.ApiReading], list[date]]:
    """Which days to spend count requests on, best first: not the days that are missing or whose
    daily usage already differs (they are re-pulled anyway); provisional days before final
    ones; then the days compared longest ago (never first); then the newest."""
    compared = {d: previous.get("days", {}).get(d.isoformat(), {}).get("compared_at", "") for d in days}

    def order(reading: fp.ApiReading) -> list[date]:
        candidates = []
        for day in days:
            held = stored.verifications.get(day, {})
            if any(d not in held for d in datasets):
                continue
            api_usage = reading.fingerprints.get(day, {}).get("daily_usage")
            if api_usage is not None and api_usage != stored.fingerprints[day]["daily_usage"]:
                continue
            candidates.append(day)
        return sorted(
            candidates,
            key=lambda d: (stored.is_final(d), compared[d], -d.toordinal()),
        )

    return order


def _run_request(
    kind: str, first: date, last: date, assets: list[dg.AssetKey], now: datetime, reason: str
) -> dg.RunRequest:
    return dg.RunRequest(
        asset_selection=assets,
        tags={
            **range_tags(first, last),
            **as_of_tags(now),
            TRIGGER_TAG: f"stale_partitions_sensor:{kind}",
            REASON_TAG: reason[:1000],
        },
    )


def evaluate_stale_partitions(
    context: dg.SensorEvaluationContext,
    cursor_api: CursorApiResource,
    duckdb_resource: DuckDBResource,
    settings: StaleDataSettings,
    now: datetime,
) -> dg.SensorResult:
    """One tick of stale_partitions_sensor at time `now` (see the module docstring)."""
    now = now.astimezone(UTC)
    last = now.date() - timedelta(days=1)
    first = max(last - timedelta(days=settings.lookback_days - 1), daily_partitions.start.date())
    if first > last:
        return dg.SensorResult(skip_reason=f"No completed UTC day since the first partition ({first}) yet.")
    days = days_in(first, last)
    previous: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
    path = duckdb_resource.database

    try:
        stored = read_stored_days(path, first, last)
    except WarehouseLockedError:
        return dg.SensorResult(
            skip_reason="DuckDB stayed locked by a running run: nothing compared; the next tick retries.",
            cursor=context.cursor,
        )

    tagged = access.tagged_assets(context.repository_def.asset_graph) if context.repository_def else {}
    dataset_of = {**RAW_DATASETS, **tagged}  # the partitioned datasets probed first
    try:
        with cursor_api.model_copy(update={"max_attempts": 1}).get_client() as client:
            budget = fp.RequestBudget(client, settings.request_budget)
            try:  # once a day per dataset, on at most a third of the budget
                probe = access.refresh(path, client, dataset_of.values(), now, probe_share(budget.left))
            except WarehouseLockedError:
                probe = access.AccessReading({}, [], note="access not read: DuckDB stayed locked")
            refused = access.refused_datasets(probe.known, now)
            known_unavailable = {n for n in PARTITIONED_DATASETS if dataset_of[RAW_KEYS[n]] in refused}
            readable = [d for d in PARTITIONED_DATASETS if d not in known_unavailable]
            reading = fp.read_api(
                client,
                (first, last),
                budget,
                _count_order(days, stored, previous, readable),
                known_unavailable,
            )
    except InvalidCredentialsError as exc:  # nothing can be compared with this key
        return dg.SensorResult(skip_reason=f"The API refused the key: {exc}", cursor=context.cursor)
    access.report_changes(context, dataset_of, probe.changed)
    unavailable = reading.unavailable
    datasets = [d for d in PARTITIONED_DATASETS if d not in unavailable]
    fingerprinted = [d for d in FINGERPRINTED if d in datasets]

    comparisons = {day: fp.compare_day(day, stored, reading, datasets) for day in days}
    stale = {day: c.stale for day, c in comparisons.items() if c.stale}
    settled = [
        c for c in comparisons.values()
        if c.verdict == fp.MATCHES and now >= settles_at(c.day, settings.settle_days)
        and not stored.is_final(c.day, fingerprinted)
    ]  # fmt: skip
    notes = [probe.note] if probe.note else []
    if refused:
        reasons = sorted(
            {a.describe().removeprefix("unavailable (").removesuffix(")") for a in refused.values()}
        )
        notes.append(f"left out, the key may not read them: {', '.join(refused)} ({'; '.join(reasons)})")
    if settled:
        try:
            write_confirmations(path, settled, fingerprinted, now, settings.settle_days)
        except WarehouseLockedError:
            notes.append("settled days not marked final: DuckDB stayed locked (next tick retries)")
            settled = []

    requests = []
    for lo, hi, names in fp.contiguous(stale):
        raw_keys = [RAW_KEYS[n] for n in PARTITIONED_DATASETS if n in names]
        verdicts = sorted({comparisons[d].verdict for d in days_in(lo, hi)})
        reason = f"{'/'.join(verdicts)}: {', '.join(sorted(names))} for {lo}..{hi}"
        assets = raw_keys + same_day_metrics(set(raw_keys))
        requests.append(_run_request("repair", lo, hi, assets, now, reason))
    for lo, hi, _ in fp.contiguous({c.day: set() for c in settled}):
        reason = f"settled and fingerprint matched: {lo}..{hi} final"
        requests.append(_run_request("finalize", lo, hi, METRIC_KEYS, now, reason))

    changed_final = [c for c in comparisons.values() if c.verdict == fp.DIFFERS and c.was_final]
    if changed_final:
        lines = [
            f"- {c.day}: {', '.join(sorted(d for d in c.stale if d in c.api and c.api[d] != c.stored[d]))}"
            for c in changed_final
        ]
        send_alert(
            settings.webhook_url,
            "cursor-analytics: data changed after it was final; re-pulling:\n" + "\n".join(lines),
            context.log,
        )

    cursor = _next_cursor(previous, days, comparisons, reading, fingerprinted, unavailable, now, settings)
    if requests:
        context.log.info("; ".join(r.tags[REASON_TAG] for r in requests))
        return dg.SensorResult(run_requests=requests, cursor=cursor)
    return dg.SensorResult(
        skip_reason=_skip_reason(days, comparisons, stored, reading, notes, settings, now, fingerprinted),
        cursor=cursor,
    )


def _next_cursor(
    previous: dict[str, Any],
    days: list[date],
    comparisons: dict[date, fp.DayComparison],
    reading: fp.ApiReading,
    fingerprinted: list[str],
    unavailable: set[str],
    now: datetime,
    settings: StaleDataSettings,
) -> str:
    """Per day of the lookback, what was compared last: the verdict and both fingerprints, when
    it was last read (`checked_at`) and last compared in full (`compared_at`, which orders the
    next ticks' counts). Days not read now keep their previous entry."""
    before = previous.get("days", {})
    kept: dict[str, Any] = {}
    for day in days:
        key = day.isoformat()
        entry = dict(before.get(key, {}))
        if reading.fingerprints.get(day) or comparisons[day].verdict == fp.MISSING:
            entry.update(comparisons[day].as_json(), checked_at=now.isoformat())
            if reading.complete(day, fingerprinted):
                entry["compared_at"] = now.isoformat()
        if entry:
            kept[key] = entry
    return json.dumps(
        {
            "evaluated_at": now.isoformat(),
            "requests": reading.requests,
            "request_budget": settings.request_budget,
            "stopped": reading.stopped,
            "unavailable": sorted(unavailable),
            "days": kept,
        },
        sort_keys=True,
    )


def _skip_reason(
    days: list[date],
    comparisons: dict[date, fp.DayComparison],
    stored: fp.StoredDays,
    reading: fp.ApiReading,
    notes: list[str],
    settings: StaleDataSettings,
    now: datetime,
    fingerprinted: list[str],
) -> str:
    checked = [d for d in days if comparisons[d].verdict == fp.MATCHES]
    final = [d for d in days if stored.is_final(d, fingerprinted)]
    provisional = [d for d in days if d not in final]
    text = (
        f"Nothing stale in {days[0]}..{days[-1]}: {len(checked)} of {len(days)} days compared in full "
        f"with {reading.requests} API requests (budget {settings.request_budget}) match DuckDB; "
        f"{len(final)} final, {len(provisional)} provisional"
    )
    waiting = [
        settles_at(d, settings.settle_days) for d in provisional if settles_at(d, settings.settle_days) > now
    ]
    if waiting:
        text += f" (the next settles at {min(waiting).isoformat()})"
    text += "."
    unchecked = [d for d in days if comparisons[d].verdict == fp.UNCHECKED]
    if unchecked:
        text += f" Not compared in full this tick: {len(unchecked)} days ({reading.stopped or 'no requests left'}); the next tick starts with them."
    for note in notes:
        text += f" Note: {note}."
    return text


def build_stale_partitions_sensor(
    settings: StaleDataSettings | None = None, clock: Callable[[], datetime] = utc_now
) -> dg.SensorDefinition:
    """The stale-partition sensor with `settings` (default: from the environment) and `clock`
    (the evaluation time; default: the current time)."""
    settings = settings or StaleDataSettings.from_env()

    @dg.sensor(
        name="stale_partitions_sensor",
        job=cursor_daily_job,
        minimum_interval_seconds=settings.sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Every {settings.sensor_interval_seconds} s: compares a cheap API fingerprint of the "
            f"last {settings.lookback_days} completed days with DuckDB (at most "
            f"{settings.request_budget} API requests), re-pulls the days that are missing or "
            f"changed, and marks final the days settled for {settings.settle_days} days."
        ),
    )
    def stale_partitions_sensor(
        context: dg.SensorEvaluationContext, cursor_api: CursorApiResource, duckdb: DuckDBResource
    ) -> dg.SensorResult:
        if not (cursor_api.api_key or "").strip():
            return dg.SensorResult(skip_reason=MISSING_KEY)
        return evaluate_stale_partitions(context, cursor_api, duckdb, settings, clock())

    return stale_partitions_sensor


def build_freshness_alert_sensor(settings: StaleDataSettings | None = None) -> dg.SensorDefinition:
    """Posts one alert per asset whose freshness state turned FAIL (as evaluated by Dagster's
    freshness daemon), once per failure."""
    settings = settings or StaleDataSettings.from_env()

    @dg.sensor(
        name="freshness_alert_sensor",
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Posts to CURSOR_ANALYTICS_ALERT_WEBHOOK_URL when an asset's freshness "
        "policy fails (off unless the variable is set).",
    )
    def freshness_alert_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        if not settings.webhook_url:
            return dg.SensorResult(
                skip_reason="Alerts are off: set CURSOR_ANALYTICS_ALERT_WEBHOOK_URL to a "
                "Slack-compatible incoming webhook to be told when data is late."
            )
        if context.repository_def is None:
            return dg.SkipReason("No code location to read the assets' freshness policies from.")
        graph = context.repository_def.asset_graph
        keys = [k for k in graph.get_all_asset_keys() if graph.get(k).freshness_policy is not None]
        alerted: dict[str, float] = json.loads(context.cursor) if context.cursor else {}
        records = context.instance.get_freshness_state_records(keys)
        late = []
        for key, record in sorted(records.items(), key=lambda kv: kv[0].to_user_string()):
            name = key.to_user_string()
            since = record.updated_at.timestamp()
            if record.freshness_state.value == "FAIL" and since > alerted.get(name, 0):
                late.append(f"- {name} (late since {record.updated_at.isoformat(timespec='minutes')})")
                alerted[name] = since
        if late:
            send_alert(
                settings.webhook_url,
                "cursor-analytics: freshness policy failed, data is late:\n" + "\n".join(late),
                context.log,
            )
        return dg.SensorResult(
            skip_reason=f"{len(late)} new freshness failures alerted; {len(keys)} assets watched.",
            cursor=json.dumps(alerted, sort_keys=True),
        )

    return freshness_alert_sensor


stale_partitions_sensor = build_stale_partitions_sensor()
freshness_alert_sensor = build_freshness_alert_sensor()
