"""The operator's view: what a person sees of cursor-analytics in the Dagster UI.

The definitions carry what the UI shows (descriptions with formulas, owners, kinds, groups,
code references, column schemas); a metric materialization carries readable headline numbers
and a chart. Then the real thing: `dagster dev -w workspace.yaml` on loopback against a
temporary instance filled by `cursor-analytics demo`, opened in headless Chromium (Debian's
package, driven by Playwright), with screenshots saved to $CURSOR_ANALYTICS_SCREENSHOTS_DIR
(docs/screenshots/ for the README) or the test's temporary folder.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import pytest
from PIL import Image

from cursor_analytics.definitions import defs, with_code_references
from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.ui import charts, columns
from cursor_analytics_tests.support import query

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CURSOR_ANALYTICS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
METRIC = dg.AssetKey(["analytics", "team_daily_metrics"])
SCREENSHOTS_ENV = "CURSOR_ANALYTICS_SCREENSHOTS_DIR"
# Pictures for the README show two weeks; the test needs the week the stale-data sensor compares.
DEMO_DAYS = "14" if os.environ.get(SCREENSHOTS_ENV) else "8"
LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""


def downstream_defs() -> dg.Definitions:
    """The example downstream code location's definitions (examples/downstream, not installed)."""
    if str(REPO / "examples" / "downstream") not in sys.path:
        sys.path.insert(0, str(REPO / "examples" / "downstream"))
    return importlib.import_module("leadership_reports.definitions").defs


# --- what the definitions give the UI ----------------------------------------------------------


def test_every_asset_has_a_description_owners_kinds_a_named_group_and_a_code_reference():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        assert node.description and len(node.description) > 40, f"{name}: no description"
        assert node.owners, f"{name}: no owners"
        assert node.kinds, f"{name}: no kinds"
        assert node.group_name not in (None, "default"), f"{name}: no group"
        (reference,) = node.metadata["dagster/code_references"].code_references
        source = Path(reference.file_path).read_text().splitlines()
        definition = source[reference.line_number - 1 : reference.line_number + 20]  # decorator on
        # the asset's function, or for the Analytics API's 21 raw assets the one function that
        # makes each of them from its table (defs/ingestion/analytics.py)
        made = ("def _load(",) if key.path[-1].startswith("analytics_") else ()
        assert any(line.lstrip().startswith((f"def {key.path[-1]}(", *made)) for line in definition), name
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"cursor_raw", "cursor_metrics"} <= groups


def test_every_metric_description_states_its_formula():
    for asset in [*metrics.partitioned_metric_assets, *metrics.snapshot_metric_assets]:
        description = asset.descriptions_by_key[asset.key]
        formulas = re.findall(r"`[a-z_0-9]+ = [^`]+`", description)
        assert formulas, f"{asset.key.to_user_string()}: no `metric = formula` in its description"


def test_raw_assets_declare_their_column_schema_with_a_description_for_every_column():
    graph = defs.resolve_asset_graph()
    raw_keys = [k for k in graph.get_all_asset_keys() if k.path[0] == "raw"]
    assert len(raw_keys) >= 8
    for key in raw_keys:
        schema = graph.get(key).metadata["dagster/column_schema"]
        described = {c.name: c.description for c in schema.columns}
        # the partition's day (`event_date` / `date` in the Analytics API's tables) or the snapshot time
        assert {"day", "event_date", "date", "snapshot_at"} & set(described), key
        missing = [name for name, text in described.items() if not text]
        assert not missing, f"describe {missing} of raw.{key.path[-1]} in cursor_analytics/ui/columns.py"


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
def test_code_references_point_at_the_git_host_when_a_repository_url_is_configured():
    linked = with_code_references(
        [metrics.team_daily_metrics], "https://github.com/acme/cursor-analytics/", "release"
    )
    (reference,) = linked[0].specs_by_key[METRIC].metadata["dagster/code_references"].code_references
    assert re.fullmatch(
        r"https://github\.com/acme/cursor-analytics/tree/release/cursor_analytics/defs/metrics/assets\.py#L\d+",
        reference.url,
    )
    with pytest.raises(ValueError, match="CURSOR_ANALYTICS_GIT_URL='https://git.example.org/x'"):
        with_code_references([metrics.team_daily_metrics], "https://git.example.org/x")


def test_charts_say_so_when_there_is_nothing_to_draw_yet():
    with duckdb.connect() as conn:
        conn.execute("CREATE SCHEMA analytics")
        conn.execute(
            "CREATE TABLE analytics.team_daily_metrics (day DATE, tab_acceptance_rate DOUBLE, "
            "suggestion_acceptance_rate DOUBLE, ai_line_share DOUBLE)"
        )
        conn.execute("CREATE TABLE analytics.model_usage_daily (day DATE, model VARCHAR, requests BIGINT)")
        trend = charts.acceptance_rate_trend(conn, date(2025, 6, 30)).value
        mix = charts.model_mix(conn, date(2025, 6, 30)).value
    assert trend.endswith("_No team metrics loaded yet._") and "data:image" not in trend
    assert mix.endswith("_No model usage loaded yet._") and "data:image" not in mix


# --- a demo instance and the Dagster UI over it ------------------------------------------------


@dataclass
class DemoUI:
    root: Path
    home: Path  # DAGSTER_HOME
    db: Path  # the DuckDB file
    url: str  # the Dagster UI
    ui: subprocess.Popen  # `cursor-analytics ui`, as `make ui` runs it
    log: Path  # its terminal output

    def stop(self) -> int:
        """Ctrl-C as a person would stop it (SIGTERM here; the command treats both alike)."""
        if self.ui.poll() is None:
            self.ui.send_signal(signal.SIGTERM)
            try:
                self.ui.wait(timeout=90)
            except subprocess.TimeoutExpired:
                _kill_tree(self.ui.pid)
                self.ui.wait()
        return self.ui.returncode


def _kill_tree(pid: int) -> None:
    """Last resort: SIGKILL a process and the process groups of its children."""
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in children.read_text().split():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(child), signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CURSOR_", "DAGSTER_"))}
    return {**env, **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(url: str, query: str) -> dict:
    return httpx.post(f"{url}/graphql", json={"query": query}, timeout=30).json()["data"]


def _wait_for_code_locations(url: str, server: subprocess.Popen, log: Path, timeout: float = 180.0) -> None:
    """Until every code location of the workspace has loaded; fail with the error otherwise."""
    deadline = time.monotonic() + timeout
    entries: list = []
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"cursor-analytics ui exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            entries = _graphql(url, LOCATIONS_QUERY)["workspaceOrError"]["locationEntries"]
        except (httpx.HTTPError, KeyError, TypeError, ValueError):
            entries = []
        loaded = [e["locationOrLoadError"] for e in entries if e["loadStatus"] == "LOADED"]
        errors = [e for e in loaded if e and e["__typename"] == "PythonError"]
        assert not errors, f"code locations failed to load: {errors}"
        if entries and len(loaded) == len(entries):
            return
        time.sleep(0.5)
    pytest.fail(f"the UI was not ready in {timeout:.0f} s ({entries}):\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory) -> Iterator[DemoUI]:
    """`make demo` then `make ui` with no key, into a fresh Dagster home and DuckDB file:
    `cursor-analytics demo --days 8 --users 8` (a week of completed days: what the stale-data
    sensor compares), then `cursor-analytics ui` on a free loopback port, which starts the
    simulator with the demo's team next to `dagster dev`."""
    root = tmp_path_factory.mktemp("ui")
    home, db, port = root / "dagster_home", root / "data" / "cursor.duckdb", _free_port()
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = _clean_env(DAGSTER_HOME=str(home), CURSOR_ANALYTICS_DB=str(db))
    demo = subprocess.run(
        [sys.executable, "-m", "cursor_analytics.cli", "demo", "--days", DEMO_DAYS, "--users", "8"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    log = root / "ui.log"
    with open(log, "w") as out:
        ui = subprocess.Popen(
            [sys.executable, "-m", "cursor_analytics.cli", "ui", "--port", str(port)],
            cwd=REPO,  # where `make ui` runs it: workspace.yaml is read from here
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = DemoUI(root, home, db, f"http://127.0.0.1:{port}", ui, log)
    try:
        _wait_for_code_locations(running.url, ui, log)
        yield running
    finally:
        running.stop()


def test_a_metric_materialization_carries_float_headlines_and_a_chart(demo_ui):
    instance = dg.DagsterInstance.from_config(str(demo_ui.home))
    latest = instance.get_latest_materialization_event(METRIC).asset_materialization.metadata
    start, end = latest["window_start"].value, latest["window_end"].value
    # The day before the demo's last: a whole day (just after midnight UTC the last one may have
    # no usage yet, so no row). Each day of the range run has its own figures.
    day = (date.fromisoformat(end) - timedelta(days=1)).isoformat()
    assert start <= day <= end
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=METRIC, asset_partitions=[day]), limit=1
    ).records
    event = record.event_log_entry.dagster_event.event_specific_data.materialization
    metadata = event.metadata

    tab_rate, spend_per_user, active = query(
        demo_ui.db,
        "SELECT tab_acceptance_rate, spend_per_active_user_cents, active_users "
        "FROM analytics.team_daily_metrics WHERE day = ?",
        [day],
    )[0]
    assert isinstance(metadata["tab_acceptance_rate"], dg.FloatMetadataValue)
    assert metadata["tab_acceptance_rate"].value == round(tab_rate, 4)
    assert metadata["spend_per_active_user_cents"].value == round(spend_per_user, 4)
    assert metadata["peak_active_users"].value == active
    assert metadata["range_summary"].value.startswith(f"Over {start} .. {end}:")
    for name in ("suggestion_acceptance_rate", "ai_line_share"):
        assert isinstance(metadata[name], dg.FloatMetadataValue), name
    assert "line_acceptance_rate" not in metadata  # the agent's, from the Analytics API: not loaded here

    chart = metadata["chart"].value
    assert chart.startswith("**Acceptance rates and AI line share, team, per day**")
    png = base64.b64decode(re.search(r"\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", chart).group(1))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (560, 240)
    first_day = query(
        demo_ui.db,
        "SELECT min(day) FROM analytics.team_daily_metrics WHERE tab_acceptance_rate IS NOT NULL",
    )[0][0]
    assert f"{first_day} .. " in chart  # the caption names the days drawn
    assert len(png) < 20_000  # every partition of a range run stores it

    described = columns.describe("analytics.team_daily_metrics")
    schema = metadata["dagster/column_schema"].schema
    assert {c.name: c.description for c in schema.columns} == {
        c.name: described.get(c.name) for c in schema.columns
    }
    assert all(c.description for c in schema.columns)

    for key, title in [("model_usage_daily", "Model mix"), ("spend_per_user", "Spend per member")]:
        other = instance.get_latest_materialization_event(dg.AssetKey(["analytics", key]))
        assert other.asset_materialization.metadata["chart"].value.startswith(f"**{title}"), key


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    configured = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser(tmp_path_factory, request):
    """A headless Chromium (Debian's /usr/bin/chromium) with a fresh profile, via Playwright,
    on the demo's Dagster UI. Checked before the demo starts: no browser is a failure."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the UI test needs Debian's chromium package. "
            "Run .ci/install-chromium (make test does), or set CURSOR_ANALYTICS_CHROMIUM to a "
            "Chromium binary."
        )
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install -e '.[dev]' (make test does).")
    expect.set_options(timeout=60_000)  # a loaded 2-core CI machine renders slowly; 5 s by default
    demo_ui: DemoUI = request.getfixturevalue("demo_ui")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
            base_url=demo_ui.url,
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.set_default_timeout(60_000)
    yield page
    page.close()


def shown(page, text: str, exact: bool = True):
    """The first element showing `text` that a person can see (lists keep hidden duplicates)."""
    return page.get_by_text(text, exact=exact).filter(visible=True).first


def test_both_code_locations_load_in_the_deployment_page(page, screenshots):
    from playwright.sync_api import expect

    page.goto("/deployment/locations")
    for location in ("cursor_analytics", "leadership_reports"):
        expect(shown(page, location)).to_be_visible()
    expect(shown(page, "Loaded", exact=False)).to_be_visible()


def test_the_asset_graph_shows_lineage_from_raw_data_to_metrics_to_the_downstream_report(page, screenshots):
    from playwright.sync_api import expect

    page.goto("/asset-groups")
    groups = ["cursor_raw", "cursor_metrics", "leadership_reports"]
    for group in groups:
        expect(shown(page, group)).to_be_visible()
    page.wait_for_timeout(1000)  # let the graph settle before the picture
    page.screenshot(path=screenshots / "asset-lineage.png")

    # One metric's upstream graph: raw tables -> user_daily_metrics -> team_daily_metrics.
    parents = defs.resolve_asset_graph().get(METRIC).parent_keys
    page.goto("/assets/analytics/team_daily_metrics?view=lineage&lineageScope=upstream&lineageDepth=2")
    names = ["daily_usage", "usage_events", *(k.path[-1] for k in parents), "team_daily_metrics"]
    for name in names:
        expect(shown(page, name)).to_be_visible()
    page.wait_for_timeout(1000)
    page.screenshot(path=screenshots / "metric-lineage.png")


def test_the_catalog_lists_every_asset_of_both_code_locations(page, screenshots):
    from playwright.sync_api import expect

    keys = [
        *defs.resolve_asset_graph().get_all_asset_keys(),
        *downstream_defs().resolve_asset_graph().get_all_asset_keys(),
    ]
    page.set_viewport_size({"width": 1400, "height": 200 + 90 * len(keys)})  # no virtual scrolling
    page.goto("/assets")
    for key in keys:
        expect(page.get_by_text(" / ".join(key.path), exact=True).first).to_be_attached()
    page.set_viewport_size({"width": 1400, "height": 900})
    page.screenshot(path=screenshots / "asset-catalog.png")


def test_a_metric_page_shows_its_formula_owners_columns_headline_numbers_and_chart(page, screenshots):
    from playwright.sync_api import expect

    page.goto("/assets/analytics/team_daily_metrics")
    expect(page.get_by_text("tab_acceptance_rate = sum(tabs_accepted) / sum(tabs_shown)")).to_be_visible()
    expect(shown(page, "engineering-analytics", exact=False)).to_be_visible()
    expect(shown(page, "DuckDB", exact=False)).to_be_visible()
    expect(shown(page, "cursor_metrics", exact=False)).to_be_visible()
    described = columns.describe("analytics.team_daily_metrics")
    expect(shown(page, described["spend_per_active_user_cents"], exact=False)).to_be_visible()
    page.screenshot(path=screenshots / "metric-asset.png")

    for key in ("tab_acceptance_rate", "spend_per_active_user_cents", "peak_active_users"):
        expect(page.get_by_text(key, exact=True).first).to_be_attached()
    show_chart = page.get_by_role("row").filter(has_text="chart").get_by_text("Show Markdown")
    show_chart.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / "metric-metadata.png")
    show_chart.click()
    chart = page.get_by_role("dialog").locator("img[src^='data:image/png;base64,']")
    expect(chart).to_be_visible()
    assert chart.evaluate("img => img.complete && img.naturalWidth") == 560  # decoded and drawn
    page.get_by_role("dialog").screenshot(path=screenshots / "metric-chart.png")


def test_every_asset_check_appears_on_its_assets_checks_tab(page):
    from playwright.sync_api import expect

    checks = defs.resolve_asset_graph().asset_check_keys
    assert checks, "no asset checks in cursor_analytics.definitions"
    by_asset: dict[dg.AssetKey, list[str]] = {}
    for check in checks:
        by_asset.setdefault(check.asset_key, []).append(check.name)
    page.goto("/assets")
    for asset, names in sorted(by_asset.items()):
        # Navigate inside the loaded app, as a click on a link does: no reload per asset.
        url, title = f"/assets/{'/'.join(asset.path)}?view=checks", f"Assets | {' / '.join(asset.path)}"
        page.evaluate(
            "url => { history.pushState({}, '', url); dispatchEvent(new PopStateEvent('popstate')); }", url
        )
        try:
            expect(page).to_have_title(title, timeout=15_000)
        except AssertionError:  # the app once kept the title "Dagster" over the right page: load it
            page.goto(url)
            expect(page).to_have_title(title)
        for name in names:
            # The checks list middle-truncates a long name (`tab_acceptance…es_daily_usage`) and
            # keeps the whole one as its tooltip: the row's title, or the text when it fits.
            named = page.get_by_text(name, exact=True).or_(page.get_by_title(name, exact=True))
            expect(named.filter(visible=True).first).to_be_visible()


def test_every_sensor_and_schedule_appears_on_the_automation_page(page, screenshots):
    from playwright.sync_api import expect

    names = [
        *(s.name for d in (defs, downstream_defs()) for s in d.sensors or ()),
        *(s.name for d in (defs, downstream_defs()) for s in d.schedules or ()),
    ]
    assert names
    page.goto("/overview/automation")
    for name in names:
        expect(shown(page, name)).to_be_visible()
    page.screenshot(path=screenshots / "automation.png")


# --- the first hour: no key, a backfill by clicking, one plot point per day -----------------------

TICKS_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError { ... on RepositoryLocation {
    repositories {
        sensors { name sensorState { ticks(limit: 50) { status skipReason error { message } } } }
        schedules { name scheduleState { ticks(limit: 50) { status skipReason error { message } } } }
    }
} } } } } }
"""
BACKFILL_QUERY = """
query($id: String!) { partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status numPartitions partitionNames }
} }
"""


def _simulator_url(demo_ui: DemoUI) -> str:
    found = re.search(r"using the bundled simulator at (http://127\.0\.0\.1:\d+)", demo_ui.log.read_text())
    assert found, demo_ui.log.read_text()[:2000]
    return found.group(1)


def test_without_a_key_the_ui_serves_the_demo_team_from_the_simulator_and_says_so(demo_ui, page):
    from playwright.sync_api import expect

    simulator = _simulator_url(demo_ui)
    assert httpx.get(f"{simulator}/teams/members", timeout=10).status_code == 401  # it serves, keyed
    page.goto("/locations/cursor_analytics/resources/cursor_api")
    expect(shown(page, f'"{simulator}"')).to_be_visible()  # the resource's base URL, as it is
    expect(shown(page, "SIMULATED: the bundled Cursor API simulator", exact=False)).to_be_visible()

    # the partitions start at the simulator's first day (its 90 days), not at 2025-01-01
    first = date.fromisoformat(re.search(r"days from (\d{4}-\d{2}-\d{2})", demo_ui.log.read_text()).group(1))
    assert (datetime.now(UTC).date() - first).days == 89
    page.goto("/assets/raw/daily_usage?view=partitions")
    expect(shown(page, first.isoformat())).to_be_visible()


@pytest.mark.timeout(600)  # a backfill of 10 assets in processes of their own, on a loaded machine
def test_a_three_day_backfill_launched_by_clicking_completes_and_plots_one_point_per_day(
    demo_ui, page, screenshots
):
    from playwright.sync_api import expect

    last = datetime.now(UTC).date() - timedelta(days=12)  # older than the demo's days: fetched now
    days = [last - timedelta(days=i) for i in (2, 1, 0)]
    page.goto("/locations/cursor_analytics/jobs/cursor_daily_job")
    page.get_by_role("button", name="Materialize all…").click()
    # team_daily_metrics also reads the Analytics API's agent edits (NULL columns when not
    # loaded), which are not in this job and the demo does not load: Dagster asks before
    # launching, naming that one upstream asset and no other.
    warning = page.get_by_role("dialog").filter(has_text="Are you sure?")
    expect(warning.get_by_role("listitem")).to_have_text(["raw / analytics_agent_edits"])
    warning.get_by_role("button", name="Confirm").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("Showing", exact=False).first).to_be_visible()
    partitions = dialog.get_by_placeholder("No matching partitions")
    partitions.fill(f"[{days[0]}...{days[-1]}]")
    partitions.press("Enter")
    expect(dialog.get_by_text("3 partitions", exact=True)).to_be_visible()
    dialog.get_by_role("button", name="Launch backfill").click()
    created = page.get_by_text(re.compile(r"Created backfill \w+"))
    expect(created).to_be_visible()
    backfill = created.inner_text().split()[-1]

    deadline = time.monotonic() + 420
    status = None
    while time.monotonic() < deadline:
        answer = httpx.post(
            f"{demo_ui.url}/graphql",
            json={"query": BACKFILL_QUERY, "variables": {"id": backfill}},
            timeout=30,
        ).json()["data"]["partitionBackfillOrError"]
        status = answer["status"]
        if status not in ("REQUESTED", "CANCELING"):
            break
        time.sleep(2)
    assert status == "COMPLETED_SUCCESS", status
    assert answer["partitionNames"] == [d.isoformat() for d in days]
    page.goto(f"/runs/b/{backfill}")
    expect(shown(page, "Completed", exact=False)).to_be_visible()

    # The metric's Plots, by partition: each day its own value (what the page fetches to draw)
    page.goto("/assets/analytics/team_daily_metrics")
    page.get_by_role("button", name="Plots").click()
    with page.expect_response(
        lambda r: "graphql" in r.url and "AssetPartitionEventsQuery" in (r.request.post_data or "")
    ) as response:
        page.locator("button[aria-selected]").filter(has_text="Partitions").click()
    plotted = _plotted(response.value.json(), "tab_acceptance_rate")
    expected = dict(
        query(
            demo_ui.db,
            "SELECT day::VARCHAR, round(tab_acceptance_rate, 4) FROM analytics.team_daily_metrics "
            "WHERE day BETWEEN ? AND ?",
            [days[0], days[-1]],
        )
    )
    assert {d.isoformat(): plotted.get(d.isoformat()) for d in days} == expected
    assert len(set(expected.values())) == 3  # one point per day, not one value for the range
    chart = page.locator("canvas").first
    expect(chart).to_be_visible()
    page.get_by_role("button", name="Plots").evaluate("button => button.scrollIntoView({block: 'start'})")
    page.screenshot(path=screenshots / "metric-plots.png")


def _plotted(answer: dict, label: str) -> dict[str, float]:
    """{partition: value of `label`} in the materializations of a GraphQL answer."""
    values: dict[str, float] = {}

    def walk(node) -> None:
        if isinstance(node, dict):
            if node.get("partition") and isinstance(node.get("metadataEntries"), list):
                for entry in node["metadataEntries"]:
                    if entry.get("label") == label and entry.get("floatValue") is not None:
                        values.setdefault(node["partition"], entry["floatValue"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(answer)
    return values


def test_no_sensor_or_schedule_tick_failed(demo_ui):
    deadline = time.monotonic() + 120
    while True:  # the daemon's first ticks come once the code locations have loaded
        repositories = [
            repo
            for entry in _graphql(demo_ui.url, TICKS_QUERY)["workspaceOrError"]["locationEntries"]
            for repo in entry["locationOrLoadError"]["repositories"]
        ]
        ticks = {s["name"]: s["sensorState"]["ticks"] for r in repositories for s in r["sensors"]} | {
            s["name"]: s["scheduleState"]["ticks"] for r in repositories for s in r["schedules"]
        }
        if ticks["stale_partitions_sensor"] or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert ticks["stale_partitions_sensor"], "the stale-data sensor never ticked"
    failed = {
        name: [t["error"] for t in history if t["status"] == "FAILURE"] for name, history in ticks.items()
    }
    assert not any(failed.values()), json.dumps(failed, indent=1)[:3000]


def test_stopping_the_ui_stops_dagster_and_the_simulator(demo_ui):
    simulator = _simulator_url(demo_ui)
    assert demo_ui.stop() == 0
    for url in (demo_ui.url, simulator):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)
    assert demo_ui.log.read_text().rstrip().endswith("Stopped the Dagster UI and the simulator.")
