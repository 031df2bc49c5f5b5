"""Which datasets the API key may read: known, not retried.

Each raw asset names its dataset in the tag `cursor_analytics/dataset` (by default its table
name; an Analytics asset `analytics_<metric>` needs nothing more), and the client probes a dataset
with one cheap request (`CursorClient.probe_access`). What is known is kept in DuckDB, in
meta.dataset_access (one row per probe or refusal; the newest row of a dataset wins): the daily
schedule and the stale-partition sensor both plan from it, both already read DuckDB, and it
outlives a reset sensor cursor and can be queried like any other table. The sensor probes again
once a record is a day old, so a plan upgrade is noticed within a day.

A raw asset whose dataset the key may not read (403) is not materialized: its step succeeds,
records the observation `access: unavailable (403 Enterprise access required)`, writes no rows
(only the refusal, to meta.dataset_access), and the metrics that depend on it are skipped in that
run, while every other dataset loads as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import dagster as dg
import duckdb

from cursor_analytics.cursor_api import (
    CursorApiError,
    CursorClient,
    DatasetAccess,
    InsufficientAccessError,
    InvalidCredentialsError,
    can_probe,
)
from cursor_analytics.warehouse import (
    Staging,
    WarehouseLockedError,
    connect_briefly,
    is_lake,
    table_exists,
    warehouse_exists,
)
from cursor_analytics.warehouse.tables import Table

DATASET_TAG = "cursor_analytics/dataset"
# The sensor probes a dataset again once its record is this old.
REPROBE_AFTER = timedelta(days=1)
# A refusal is trusted this long: with the sensor running it is renewed daily; without it, the
# schedule includes the dataset again after this and the run finds out (and stays green).
TRUST_REFUSAL_FOR = timedelta(days=2)

DATASET_ACCESS = Table(
    "meta",
    "dataset_access",
    {
        "dataset": "str",
        "readable": "bool",
        "status_code": "int",
        "reason": "str",
        "probed_at": "datetime",
        "source": "str",
    },
    day_column=None,
    descriptions={
        "dataset": "Dataset (the raw table's name, or the API dataset a raw asset declares).",
        "readable": "Whether the API key could read it.",
        "status_code": "HTTP status of the probe (200, or the refusal's: 403, 404).",
        "reason": "The server's reason for a refusal, such as 'Enterprise access required'.",
        "probed_at": "When it was learned (UTC).",
        "source": "'probe' (the stale-partition sensor's daily probe) or 'run' (a run met the refusal).",
    },
)


@dataclass(frozen=True)
class Known:
    """What was last learned about one dataset, and when."""

    access: DatasetAccess
    probed_at: datetime

    def refused(self, now: datetime) -> bool:
        return not self.access.readable and now - self.probed_at < TRUST_REFUSAL_FOR


def dataset_of(asset: dg.AssetsDefinition | dg.AssetSpec) -> str:
    """The dataset a raw asset reads: its `cursor_analytics/dataset` tag, else its name."""
    spec = next(iter(asset.specs)) if isinstance(asset, dg.AssetsDefinition) else asset
    return spec.tags.get(DATASET_TAG, spec.key.path[-1])


def tagged_assets(asset_graph: Any) -> dict[dg.AssetKey, str]:
    """Every asset of a code location that declares a dataset, with its dataset."""
    found = {}
    for key in asset_graph.get_all_asset_keys():
        tags = asset_graph.get(key).tags
        if DATASET_TAG in tags:
            found[key] = tags[DATASET_TAG]
    return found


def refused_datasets(known: dict[str, Known], now: datetime) -> dict[str, DatasetAccess]:
    """The datasets known to be unavailable at `now` (a recent refusal)."""
    return {d: k.access for d, k in sorted(known.items()) if k.refused(now)}


# --- meta.dataset_access ----------------------------------------------------------------------


def read_known(path: str) -> dict[str, Known]:
    """The newest record per dataset in the DuckDB file at `path` (none if it is absent).
    Raises WarehouseLockedError if a run holds the file for longer than a tick may wait."""
    if not warehouse_exists(path):
        return {}
    with connect_briefly(path, read_only=True) as conn:
        if not table_exists(conn, DATASET_ACCESS.fqn):
            return {}
        rows = conn.execute(
            f"SELECT dataset, arg_max(readable, probed_at), arg_max(status_code, probed_at), "
            f"arg_max(reason, probed_at), max(probed_at) FROM {DATASET_ACCESS.fqn} GROUP BY dataset"
        ).fetchall()
    return {
        dataset: Known(DatasetAccess(dataset, readable, status, reason or ""), at.replace(tzinfo=UTC))
        for dataset, readable, status, reason, at in rows
    }


def record(
    conn: duckdb.DuckDBPyConnection, accesses: Iterable[DatasetAccess], when: datetime, source: str
) -> None:
    """Append what was learned (through the one writer)."""
    rows = [
        {
            "dataset": a.dataset,
            "readable": a.readable,
            "status_code": a.status_code,
            "reason": a.reason,
            "probed_at": when,
            "source": source,
        }
        for a in accesses
    ]
    with Staging([DATASET_ACCESS]) as staging:
        staging.append(DATASET_ACCESS, rows)
        staging.publish(conn, None)


# --- the sensor's daily probe -----------------------------------------------------------------


@dataclass
class AccessReading:
    known: dict[str, Known]
    changed: list[DatasetAccess]  # probed now and different from what was known (or new)
    requests: int = 0
    note: str | None = None  # why some of it could not be done (the next tick retries)


def refresh(
    path: str, client: CursorClient, datasets: Iterable[str], now: datetime, budget: int
) -> AccessReading:
    """Probe the datasets whose record is missing or older than REPROBE_AFTER (at most `budget`
    requests), record the answers in DuckDB, and return what is known now. A rejected key is
    raised; any other failure keeps what was known."""
    known = read_known(path)
    due = [
        d
        for d in dict.fromkeys(datasets)
        if can_probe(d) and (d not in known or now - known[d].probed_at >= REPROBE_AFTER)
    ]
    reading = AccessReading(known, [])
    if not due or budget < 1:
        return reading
    before = client.stats.total_requests
    try:
        probed = client.probe_access(due[:budget])
    except InvalidCredentialsError:
        raise
    except CursorApiError as exc:
        reading.note = f"access not probed ({type(exc).__name__}: {exc})"
        probed = {}
    finally:
        reading.requests = client.stats.total_requests - before
    reading.changed = [
        a for d, a in probed.items() if d not in known or known[d].access.readable != a.readable
    ]
    if probed:
        try:
            if path != ":memory:" and not is_lake(path):
                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            with connect_briefly(path, read_only=False) as conn:
                record(conn, probed.values(), now, "probe")
        except (WarehouseLockedError, duckdb.Error, OSError) as exc:
            reading.note = f"access probed but not recorded ({exc}); the next tick probes again"
    known.update({d: Known(a, now) for d, a in probed.items()})
    return reading


def report_changes(
    context: dg.SensorEvaluationContext, assets: dict[dg.AssetKey, str], changed: list[DatasetAccess]
) -> None:
    """Say once, on each asset's page and in the tick's log, that its dataset's access changed."""
    try:
        instance = context.instance
    except dg.DagsterInvariantViolationError:  # a tick evaluated without an instance (tests)
        instance = None
    for access in changed:
        keys = [key for key, dataset in assets.items() if dataset == access.dataset]
        if instance is not None:
            for key in keys:
                instance.report_runless_asset_event(
                    dg.AssetObservation(asset_key=key, metadata={"access": access.describe()})
                )
        if not access.readable or keys:
            context.log.info(f"Dataset {access.dataset}: {access.describe()}")


# --- a run that meets a refusal ---------------------------------------------------------------


def unless_refused(
    load: Callable[..., dg.MaterializeResult],
) -> Callable[..., dg.MaterializeResult]:
    """Wrap a raw asset's load function (the asset declared `output_required=False`): in a run,
    a 403 leaves the asset unmaterialized (an empty generator) with an `access` observation and a
    record in meta.dataset_access, and the step succeeds; any other error fails it as before.
    Outside a run of the asset (invoked directly), the refusal is raised."""

    @functools.wraps(load)
    def wrapped(*args: Any, **kwargs: Any) -> dg.MaterializeResult | Iterator[dg.AssetCheckResult]:
        try:
            return load(*args, **kwargs)
        except InsufficientAccessError as exc:
            context = _asset_context()
            if context is None:
                raise
            _report_refusal(context, exc)
            return _not_evaluated(context, exc)

    # Typed as the assets declare it: Dagster reads an asset's return annotation and rejects a
    # union, and the generator of a refusal is what an asset with output_required=False may return.
    return cast(Callable[..., dg.MaterializeResult], wrapped)


def _asset_context() -> dg.AssetExecutionContext | None:
    try:
        context = dg.AssetExecutionContext.get()
    except Exception:  # no run in progress
        return None
    return context if context.has_assets_def else None


def _not_evaluated(
    context: dg.AssetExecutionContext, exc: InsufficientAccessError
) -> Iterator[dg.AssetCheckResult]:
    """No materialization; each check declared on the asset says it was not evaluated (a
    check's output is required even when the asset's is not)."""
    for spec in context.assets_def.check_specs:
        if spec.key not in context.selected_asset_check_keys:
            continue
        yield dg.AssetCheckResult(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=True,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"Not evaluated: nothing was loaded ({exc.status_code}: the key cannot read this dataset).",
            metadata={"evaluated": False},
        )


def _report_refusal(context: dg.AssetExecutionContext, exc: InsufficientAccessError) -> None:
    dataset = dataset_of(context.assets_def)
    access = DatasetAccess(dataset, False, exc.status_code, exc.server_message or exc.message)
    context.log.warning(
        f"{context.asset_key.to_user_string()}: {access.describe()} on {exc.endpoint}: not "
        "materialized, nothing written; the schedule and the stale-partition sensor leave it out "
        "until a daily probe finds it readable."
    )
    context.log_event(
        dg.AssetObservation(
            asset_key=context.asset_key,
            metadata={"access": access.describe(), "endpoint": str(exc.endpoint)},
        )
    )
    warehouse = getattr(context.resources, "duckdb", None)
    if warehouse is not None:
        try:
            with warehouse.get_connection() as conn:
                record(conn, [access], datetime.now(UTC), "run")
        except WarehouseLockedError as locked:
            context.log.warning(f"The refusal was not recorded in {DATASET_ACCESS.fqn}: {locked}")
