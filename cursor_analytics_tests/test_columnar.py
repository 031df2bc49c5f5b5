"""The columnar reading (usage events and AI commits typed in bulk by DuckDB from the response
JSON, `cursor_api.columnar`) against the reference, `records.normalise`: record by record, on
every variant the simulator serves and every documented example, and on values only the
reference may decide (text numbers, "NaN", lone surrogates, 2**70)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta

import duckdb
import pytest

from cursor_analytics.cursor_api import CursorClient, Page, UnexpectedResponseError
from cursor_analytics.simulator import Variants
from cursor_analytics.warehouse import Staging
from cursor_analytics.warehouse.tables import AI_COMMITS, USAGE_EVENTS, sql_literal
from cursor_analytics_tests.fixtures import load

TODAY = date(2025, 6, 30)
DAY = TODAY - timedelta(days=3)
TABLES = {"usage_events": USAGE_EVENTS, "ai_commits": AI_COMMITS}


def landed(tmp_path, table, pages, *, columnar: bool, by_reference: int = 0) -> dict[str, dict]:
    """Stage `pages` (the columnar way, or normalised rows: the reference) and publish them into
    a new DuckDB file; the rows by their record as sent (canonical JSON). The columnar way must
    leave exactly `by_reference` records to records.normalise."""
    db = tmp_path / f"{table.name}-{'columnar' if columnar else 'reference'}.duckdb"
    with Staging([table]) as staging:
        for page in pages:
            if columnar:
                staging.append_page(table, page)
            else:
                staging.append(table, page.records, segment=page.window)
        with duckdb.connect(str(db)) as conn:
            staging.publish(conn, None)
        if columnar:
            records = sum(len(page.items) for page in pages)
            assert staging.typed_in_bulk == {table.fqn: records - by_reference}
    with duckdb.connect(str(db)) as conn:
        cursor = conn.execute(f"SELECT * EXCLUDE (_loaded_at) FROM {table.fqn}")
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    by_record = {}
    for row in rows:
        row["raw"] = json.loads(row["raw"])
        by_record[json.dumps(row["raw"], sort_keys=True)] = row
    assert len(by_record) == len(rows)
    return by_record


def assert_same_record_by_record(tmp_path, table, pages, by_reference=0):
    reference = landed(tmp_path, table, pages, columnar=False)
    columnar = landed(tmp_path, table, pages, columnar=True, by_reference=by_reference)
    assert reference and columnar.keys() == reference.keys()
    for record, row in reference.items():
        assert columnar[record] == row, record


def page_of(record_type: str, body: dict, endpoint: str) -> Page:
    key = {"usage_events": "usageEvents", "ai_commits": "items"}[record_type]
    return Page(
        endpoint,
        body[key],
        1,
        1,
        len(body[key]),
        (DAY, DAY),
        record_type=record_type,
        list_key=key,
        body=json.dumps(body).encode(),  # as an API escaping non-ASCII would send it
    )


@pytest.mark.parametrize("flag", [None, *Variants.flag_names()])
def test_every_simulator_variant_lands_the_same_rows_as_the_reference(make_sim, tmp_path, flag):
    variants = Variants(**({flag: True} if flag else {}))
    sim = make_sim(seed=3, users=5, days=10, today=TODAY, rate_limits=False, variants=variants)
    with CursorClient(sim.api_key, base_url=sim.base_url, page_size=40, rate_limits={}) as client:
        events = list(client.usage_events(DAY - timedelta(days=1), DAY))
        commits = list(client.ai_commits(DAY - timedelta(days=4), DAY))
    assert len(events) > 1 and len(commits) > 1
    assert_same_record_by_record(tmp_path, USAGE_EVENTS, events)
    assert_same_record_by_record(tmp_path, AI_COMMITS, commits)


@pytest.mark.parametrize(
    "fixture",
    [
        "admin_filtered_usage_events",
        "admin_filtered_usage_events__is_free_bugbot",
        "admin_filtered_usage_events__no_charged_cents",
        "admin_filtered_usage_events_service_account",
        "ai_code_commits",
        "ai_code_commits__no_commit_source",
    ],
)
def test_every_documented_example_lands_the_same_rows_as_the_reference(tmp_path, fixture):
    example = load(fixture)
    record_type = "usage_events" if "usage" in fixture else "ai_commits"
    page = page_of(record_type, example["response"], example["path"])
    assert_same_record_by_record(tmp_path, TABLES[record_type], [page])


EVENT = {
    "timestamp": "1751000000123",
    "userEmail": "a@x.com",
    "model": "gpt-5",
    "kind": "Usage-based",
    "requestsCosts": 2,
    "isTokenBasedCall": True,
    "isChargeable": True,
    "chargedCents": 12.5,
    "tokenUsage": {"inputTokens": 10, "outputTokens": 5, "totalCents": 12.5},
}


@pytest.mark.parametrize(
    "odd, by_reference",
    [
        ({"chargedCents": "12.5"}, 1),  # a number as text: only the reference reads it
        ({"tokenUsage": {"inputTokens": "10"}}, 1),
        ({"timestamp": "2025-06-27T04:53:20.123+00:00"}, 1),  # an ISO timestamp with an offset
        ({"timestamp": 1751000000123.0}, 1),
        ({"userEmail": "  "}, 1),  # blank: None
        ({"serviceAccountId": " sa_1 "}, 1),  # an id with spaces: stripped
        ({"isChargeable": "true"}, 1),
        ({"model": 5.0}, 1),
        ({"kindLabel": "Included in Business", "kind": None}, 0),  # documented variants: in bulk
        ({"inputTokens": 7, "tokenUsage": None}, 0),  # the flattened token usage
        ({"tokenUsage": {"inputTokens": None}, "inputTokens": 7}, 0),  # null inside: the flat key
        # the first variant key present decides, even when null: the later ones are not read
        ({"userEmail": None, "user_email": "b@x.com"}, 0),
        ({"tokenUsage": None, "inputTokens": None, "input_tokens": 7}, 0),
        ({"user_email": "b@x.com", "userEmail": None}, 0),  # whatever the keys' order
        ({"timestamp": 1751000000123, "serviceAccountId": 42}, 0),  # numbers for text
    ],
)
def test_values_only_the_reference_decides_are_read_by_it(tmp_path, odd, by_reference):
    body = {
        "usageEvents": [EVENT, {**EVENT, "timestamp": "1751000000999", **odd}],
        "totalUsageEventsCount": 2,
    }
    page = page_of("usage_events", body, "/teams/filtered-usage-events")
    assert_same_record_by_record(tmp_path, USAGE_EVENTS, [page], by_reference=by_reference)


@pytest.mark.parametrize(
    "odd, field",
    [
        ({"chargedCents": "NaN"}, "chargedCents"),
        ({"chargedCents": "-Infinity"}, "chargedCents"),
        ({"tokenUsage": {"inputTokens": 2**70}}, "tokenUsage.inputTokens"),
        ({"model": "\ud800"}, "model"),  # DuckDB refuses the page: all of it goes to the reference
    ],
)
def test_values_the_reference_refuses_fail_the_columnar_load_naming_field_and_record(tmp_path, odd, field):
    body = {
        "usageEvents": [EVENT, {**EVENT, "timestamp": "1751000000999", **odd}],
        "totalUsageEventsCount": 2,
    }
    page = page_of("usage_events", body, "/teams/filtered-usage-events")
    with pytest.raises(UnexpectedResponseError) as caught:
        landed(tmp_path, USAGE_EVENTS, [page], columnar=True)
    assert caught.value.endpoint == "/teams/filtered-usage-events"
    assert f"field {field!r}" in str(caught.value) and "timestamp='1751000000999'" in str(caught.value)


def test_a_chunk_read_again_drops_what_was_typed_of_it_already(tmp_path, monkeypatch):
    # pages are typed in batches while the fetching goes on: a chunk whose read starts again
    # (its data moved while paging) must lose its batches already typed, and only its own
    import cursor_analytics.warehouse as warehouse

    monkeypatch.setattr(warehouse, "TYPE_BATCH_PAGES", 2)
    one, two = (DAY - timedelta(days=1), DAY - timedelta(days=1)), (DAY, DAY)

    def page(window, n, timestamp):
        body = {"usageEvents": [{**EVENT, "timestamp": str(timestamp)}], "totalUsageEventsCount": 1}
        p = page_of("usage_events", body, "/teams/filtered-usage-events")
        return Page(**{**p.__dict__, "window": window, "page": n})

    db = tmp_path / "read-again.duckdb"
    with Staging([USAGE_EVENTS]) as staging:
        for n in (1, 2, 3):  # the first chunk: two pages typed, one waiting
            staging.append_page(USAGE_EVENTS, page(one, n, 1750900000000 + n))
        for n in (1, 2, 3):  # the second chunk, read once, then again: its first read is dropped
            staging.append_page(USAGE_EVENTS, page(two, n, 1751000000000 + n))
        staging.discard(two)
        for n in (1, 2):
            staging.append_page(USAGE_EVENTS, page(two, n, 1751000000100 + n))
        assert staging.row_counts == {USAGE_EVENTS.fqn: 5}
        with duckdb.connect(str(db)) as conn:
            staging.publish(conn, None)
        assert staging.typed_in_bulk == {USAGE_EVENTS.fqn: 5}
    with duckdb.connect(str(db)) as conn:
        stamps = sorted(
            r[0] for r in conn.execute("SELECT raw->>'$.timestamp' FROM raw.usage_events").fetchall()
        )
    assert stamps == ["1750900000001", "1750900000002", "1750900000003", "1751000000101", "1751000000102"]


def test_a_full_batch_of_full_pages_is_typed_in_bulk_and_published_in_small_row_groups(make_sim, tmp_path):
    # TYPE_BATCH_PAGES pages of 1,000 events: the size the bulk query meets in a real load (a
    # batch too large for DuckDB's memory limit would fall back to Python, slowly but silently)
    import cursor_analytics.warehouse as warehouse

    events = warehouse.TYPE_BATCH_PAGES * 1000
    sim = make_sim(seed=3, users=20, days=5, today=TODAY, rate_limits=False, events_per_day={DAY: events})
    with CursorClient(sim.api_key, base_url=sim.base_url, rate_limits={}) as client:
        pages = list(client.usage_events(DAY, DAY))
    assert len(pages) == warehouse.TYPE_BATCH_PAGES
    with Staging([USAGE_EVENTS]) as staging:
        for page in pages:
            staging.append_page(USAGE_EVENTS, page)
        staging.close()
        assert staging.typed_in_bulk == {USAGE_EVENTS.fqn: events}
        # published through the warehouse's connection: in row groups of ROW_GROUP_SIZE rows,
        # so the publish buffers one small group at a time (DuckDB's default: 122,880 rows)
        with warehouse.connect(str(tmp_path / "day.duckdb")) as conn:
            assert staging.publish(conn, (DAY, DAY)) == {USAGE_EVENTS.fqn: events}
            groups = conn.execute(
                "SELECT count(DISTINCT row_group_id) FROM pragma_storage_info('raw.usage_events')"
            ).fetchone()[0]
            # what DuckDB spills under the publish's memory limit goes beside the file (not into
            # a .tmp folder in whatever directory the run started in)
            spills = conn.execute("SELECT current_setting('temp_directory')").fetchone()[0]
    assert spills == f"{tmp_path / 'day.duckdb'}.tmp"
    assert groups == -(-events // warehouse.ROW_GROUP_SIZE) > 1


def _staged_day(make_sim, events: int) -> Staging:
    sim = make_sim(seed=3, users=20, days=5, today=TODAY, rate_limits=False, events_per_day={DAY: events})
    staging = Staging([USAGE_EVENTS])
    with CursorClient(sim.api_key, base_url=sim.base_url, rate_limits={}) as client:
        for page in client.usage_events(DAY, DAY):
            staging.append_page(USAGE_EVENTS, page)
    return staging


def test_a_publish_that_outgrows_its_memory_limit_is_rolled_back_and_runs_again_at_a_higher_one(
    make_sim, tmp_path, monkeypatch, caplog
):
    import cursor_analytics.warehouse as warehouse

    # a limit under which DuckDB cannot insert even a day of 5,000 events (the INSERT fails)
    monkeypatch.setitem(warehouse.PUBLISH_SETTINGS, "memory_limit", "2MiB")
    with _staged_day(make_sim, 5000) as staging, warehouse.connect(str(tmp_path / "day.duckdb")) as conn:
        limit = conn.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        with caplog.at_level(logging.WARNING, logger="cursor_analytics.warehouse"):
            assert staging.publish(conn, (DAY, DAY)) == {USAGE_EVENTS.fqn: 5000}
        assert conn.execute("SELECT count(*), count(DISTINCT raw) FROM raw.usage_events").fetchone() == (
            5000,
            5000,
        )
        assert conn.execute("SELECT current_setting('memory_limit')").fetchone()[0] == limit  # restored
    assert "ran out of its 2MiB DuckDB memory limit" in caplog.text
    assert f"runs again at {warehouse.PUBLISH_RETRY_MEMORY_LIMIT}" in caplog.text


def test_a_publish_that_outgrows_both_memory_limits_fails_and_keeps_the_previous_load(
    make_sim, tmp_path, monkeypatch
):
    import cursor_analytics.warehouse as warehouse

    first, second = datetime(2025, 6, 2, 1, 0), datetime(2025, 6, 2, 2, 0)
    with _staged_day(make_sim, 5000) as staging, warehouse.connect(str(tmp_path / "day.duckdb")) as conn:
        staging.publish(conn, (DAY, DAY), loaded_at=first)
        monkeypatch.setitem(warehouse.PUBLISH_SETTINGS, "memory_limit", "2MiB")
        monkeypatch.setattr(warehouse, "PUBLISH_RETRY_MEMORY_LIMIT", "2MiB")
        with pytest.raises(duckdb.OutOfMemoryException):
            staging.publish(conn, (DAY, DAY), loaded_at=second)
        # the DELETE of the day was rolled back with the INSERT, both times
        assert conn.execute("SELECT count(*), max(_loaded_at) FROM raw.usage_events").fetchone() == (
            5000,
            first,
        )


@pytest.mark.parametrize(
    "value",
    [
        None,
        -5,
        2**62,
        "O'Brien'); DROP TABLE raw.usage_events; --",
        "naïve ✓ \\ \" ''",
        date(2025, 6, 1),
        datetime(2025, 6, 1, 23, 59, 59, 999_999),
        datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
    ],
)
def test_values_written_into_sql_come_back_from_duckdb_unchanged(value):
    # the publish writes its days, load time and scope as literals: a bound parameter would
    # import numpy and pandas into the step (~40 MB, bench/RESULTS.md)
    with duckdb.connect() as conn:
        assert conn.execute(f"SELECT {sql_literal(value)}").fetchone()[0] == value


@pytest.mark.parametrize("value", [True, 1.5, b"x", [1]])
def test_a_value_without_an_exact_sql_literal_is_refused(value):
    with pytest.raises(TypeError, match="sql_literal"):
        sql_literal(value)
