"""Nothing silently wrong: what an unlucky production sends or does is said, never swallowed.

- The API answers a day range with records dated outside it: the load stores only its days,
  counts the others in its metadata and a WARN check names their days.
- API text with markdown in it (an image, a link, HTML, a newline, a pipe) is shown in the UI's
  previews as the text it is: rendered, it makes no image, no link and no extra row or column.
- The disk fills up during a publish: the run fails with "No space left on device", not with
  the "cannot rollback" that used to hide it.
- A notebook has the warehouse open: `spend-limits plan` reads it read-only and plans.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import dagster as dg
import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from cursor_analytics.cli import main
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.simulator import Variants
from cursor_analytics.ui.metadata import PREVIEW_ROWS, PREVIEW_WIDTH
from cursor_analytics_tests.support import materialize_days, query, resources
from cursor_analytics_tests.test_governance import take_snapshots, write

COMMITS = dg.AssetSelection.assets(raw.ai_commits)


def test_rows_dated_outside_the_run_are_counted_and_a_warn_check_names_their_days(make_sim, tmp_path):
    sim = make_sim(rate_limits=False, variants=Variants(code_window_spill_hours=24))
    end = sim.team.today - timedelta(days=5)
    start = end - timedelta(days=1)
    db = tmp_path / "cursor.duckdb"
    result = materialize_days(resources(sim, db), start, end, COMMITS)

    def commits(day):
        return sim.ground_truth(day)["ai_commits"]["rows"]

    before, after = start - timedelta(days=1), end + timedelta(days=1)
    stored = commits(start) + commits(end)
    assert query(db, "SELECT count(*), min(day), max(day) FROM raw.ai_commits") == [(stored, start, end)]
    materializations = result.asset_materializations_for_node("raw__ai_commits")  # one per day
    outside = materializations[0].metadata["rows_out_of_window"].value
    assert outside == commits(before) + commits(after) > 0
    assert sum(m.metadata["dagster/row_count"].value for m in materializations) == stored
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == raw.ROWS_IN_WINDOW]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    by_day = check.metadata["days_out_of_window"].value
    assert by_day == {str(d): commits(d) for d in (before, after) if commits(d)}
    assert f"{outside} rows the API sent for {start}..{end} are dated outside it" in check.description


HOSTILE = "acme/![pixel](http://127.0.0.1:9/p.png)<img src=x onerror=alert(1)>[link](https://x.io)\n| a | b |"


def test_api_text_in_a_preview_renders_as_text_never_an_image_a_link_or_extra_cells(make_sim, tmp_path):
    sim = make_sim(rate_limits=False)
    for member in sim.team.member_list:
        member.repos = (HOSTILE,)  # every commit's repoName
    end = sim.team.today - timedelta(days=5)
    result = materialize_days(resources(sim, tmp_path / "cursor.duckdb"), end, end, COMMITS)
    (materialization, *_) = result.asset_materializations_for_node("raw__ai_commits")
    preview = materialization.metadata["preview"].value

    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(preview)
    assert "<img" not in html and "<a " not in html
    assert html.count("<tr>") == 1 + PREVIEW_ROWS  # the header and the rows: no row added
    assert html.count("<td>") == PREVIEW_ROWS * PREVIEW_WIDTH  # no column added
    shown = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "\\n")
    assert html.count(f"<td>{shown}</td>") == PREVIEW_ROWS  # the text itself, in its own cell


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (needs root and permission to mount)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_fails_the_run_with_no_space_left_on_device(make_sim, tiny_disk):
    sim = make_sim(rate_limits=False)
    end = sim.team.today - timedelta(days=1)
    selection = dg.AssetSelection.assets(raw.usage_events)
    result = materialize_days(
        resources(sim, tiny_disk / "cursor.duckdb"),
        end - timedelta(days=29),
        end,
        selection,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    text = error.message + "".join(c.message for c in [error.cause] if c)
    assert "No space left on device" in text
    assert "cannot rollback" not in text


READER = "import sys, duckdb; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); sys.stdin.read()"


def test_spend_limits_plan_reads_the_warehouse_read_only_beside_a_notebook(sim, tmp_path):
    db = tmp_path / "cursor.duckdb"
    take_snapshots(resources(sim, db), dg.DagsterInstance.ephemeral())
    path = write(tmp_path / "spend.yaml", "default: 30\n")
    notebook = subprocess.Popen(
        [sys.executable, "-c", READER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert notebook.stdout.readline().strip() == "open"
        shown = CliRunner().invoke(main, ["spend-limits", "plan", "--file", path, "--db", str(db)])
    finally:
        notebook.communicate("")
    assert shown.exit_code == 0, shown.output
    assert "| $30 | default (line 1) |" in shown.output
    member = next(m.email for m in sim.team.member_list if not m.removed and m.role == "member")
    assert f"| {member} | member |" in shown.output  # a terminal shows the text, not its escapes
