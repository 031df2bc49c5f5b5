"""The suite's one clock: the code and every simulator run at `support.NOW`, so the data is the
same on every calendar day, the edge cases the tests rely on are in it by construction, and the
suite passes whatever the date (a subset runs again at a cycle start and at month ends)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, timedelta
from pathlib import Path

import pytest

from cursor_analytics.cursor_api.dates import NOW_ENV, _utc_today, utc_now
from cursor_analytics.defs.partitions import daily_partitions
from cursor_analytics.simulator.team import Team
from cursor_analytics.warehouse.finality import run_as_of
from cursor_analytics_tests.support import NOW, SUITE_NOW, TODAY

REPO = Path(__file__).resolve().parents[1]


def test_the_code_runs_at_the_suites_clock():
    assert os.environ[NOW_ENV] and NOW.tzinfo is not None
    assert NOW <= utc_now() < NOW + timedelta(hours=1)  # the clock starts at NOW and runs on
    assert _utc_today() == TODAY

    class Run:  # a run without a cursor_analytics/as_of tag takes the clock's now
        tags: dict[str, str] = {}

    class Context:
        run = Run()

    assert NOW <= run_as_of(Context()) < NOW + timedelta(hours=1)


def test_the_clock_variable_is_checked():
    previous = os.environ[NOW_ENV]
    try:
        os.environ[NOW_ENV] = "2025-02-30"
        with pytest.raises(ValueError, match="CURSOR_ANALYTICS_NOW='2025-02-30' is not an ISO 8601 time"):
            utc_now()
        os.environ[NOW_ENV] = "2025-03-31T23:00:00"  # naive: UTC
        assert utc_now().date() in (date(2025, 3, 31), date(2025, 4, 1))
        assert utc_now().tzinfo == UTC
    finally:
        os.environ[NOW_ENV] = previous


@pytest.mark.skipif(
    os.environ.get(NOW_ENV) != "2025-06-23T12:00:00+00:00", reason="edge cases of the default date"
)
def test_the_default_date_puts_the_edge_cases_in_the_fixtures_data():
    """At 2025-06-23 the fixtures' teams hold what the tests rely on."""
    # test_checks (seed 7, 10 days): the billing cycle starts on the 18th, inside the history
    checks_team = Team(7, 12, 10, now=NOW)
    assert checks_team.first_day < checks_team.cycle_start == date(2025, 6, 18) < TODAY
    # test_assets (seed 11, 90 days): 30+ completed days to load, a cycle started mid-history,
    # AI changes without a model, and a member removed during the history
    assets_team = Team(11, 12, 90, now=NOW)
    assert len(assets_team.history()) - 1 >= 60
    assert assets_team.first_day < assets_team.cycle_start < TODAY
    loaded = [TODAY - timedelta(days=d) for d in (2, 3, 4)]  # test_assets' three days
    assert any(c["model"] is None for day in loaded for c in assets_team.changes(day))
    assert any(
        m.removed_day and assets_team.first_day < m.removed_day <= TODAY for m in assets_team.member_list
    )
    # the partitions reach back to every simulated day
    assert daily_partitions.start.date() <= assets_team.first_day


# A representative subset, run again at other moments, each in a process of its own (the clock
# is read when the code loads), side by side: the day a billing cycle starts (seed 7's is the
# 18th: test_checks' cycle then starts today), the last day of a 31-day month, and a year's end.
OTHER_MOMENTS = ["2025-07-18T12:00:00+00:00", "2025-03-31T12:00:00+00:00", "2025-12-31T12:00:00+00:00"]
SUBSET = [
    "cursor_analytics_tests/test_clock.py::test_the_code_runs_at_the_suites_clock",
    "cursor_analytics_tests/test_checks.py::test_every_check_passes_on_the_data_the_simulator_served",
    "cursor_analytics_tests/test_assets.py::test_three_days_land_exactly_what_the_simulator_served",
    "cursor_analytics_tests/test_assets.py::test_seat_utilization_and_spend_per_user_follow_the_snapshots",
]


@pytest.mark.timeout(900)  # three pytest processes side by side
def test_a_subset_of_the_suite_passes_at_a_cycle_start_and_at_month_ends(tmp_path):
    if os.environ[NOW_ENV] != SUITE_NOW:
        pytest.skip("already running at another moment")
    runs = {}
    for moment in OTHER_MOMENTS:
        log = (tmp_path / f"{moment[:10]}.log").open("w")
        runs[moment] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SUBSET],
            cwd=REPO, env={**os.environ, NOW_ENV: moment}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    codes = {moment: run.wait(timeout=900) for moment, run in runs.items()}
    for moment in OTHER_MOMENTS:
        output = (tmp_path / f"{moment[:10]}.log").read_text()
        assert codes[moment] == 0, output[-4000:]
        assert f"{len(SUBSET)} passed" in output, output[-4000:]
