"""Governance as code against the simulator: spend limits and repository blocklists planned from
YAML files (a dry run by default), applied through the real Dagster jobs and the CLI, audited in
DuckDB, and rejected with the line and field when the file is wrong, before any request."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from click.testing import CliRunner

from cursor_analytics.cli import main
from cursor_analytics.definitions import defs
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.governance import blocklists, spend_limits
from cursor_analytics.governance.files import GovernanceFileError
from cursor_analytics.simulator import Faults, Simulator
from cursor_analytics.ui.metadata import escape_markdown
from cursor_analytics_tests.support import ALL_ASSETS, NOW, query, resources

SPEND_OP, BLOCKLIST_OP = "governance_spend_limits", "governance_repo_blocklists"
LIMIT_PATH = "/teams/user-spend-limit"
UPSERT_PATH = "/settings/repo-blocklists/repos/upsert"
ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ helpers


def take_snapshots(res: dict[str, Any], instance: dg.DagsterInstance, *extra: list[str]) -> None:
    """Materialize the members and spend snapshots (and any `extra` asset keys)."""
    keys = [["raw", "team_members"], ["raw", "spend_snapshots"], *extra]
    dg.materialize(
        [*ALL_ASSETS, *defs.asset_checks],
        selection=dg.AssetSelection.assets(*keys),
        resources=res,
        instance=instance,
    )


def run(job: str, op: str, res, instance, raise_on_error: bool = True, **config: Any):
    return defs.resolve_job_def(job).execute_in_process(
        run_config={"ops": {op: {"config": config}}},
        resources=res,
        instance=instance,
        raise_on_error=raise_on_error,
    )


def output_metadata(result: dg.ExecuteInProcessResult, op: str) -> dict[str, Any]:
    (event,) = [e for e in result.events_for_node(op) if e.is_successful_output]
    return event.step_output_data.metadata


def current_members(sim: Simulator) -> list:
    return [m for m in sim.team.member_list if not m.removed]


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def audit_rows(db: Path) -> list[tuple]:
    return query(
        db,
        "SELECT action, target, before, after, outcome, run_id, source_sha256, write_id "
        "FROM governance.audit_log ORDER BY recorded_at",
    )


# ------------------------------------------------------------------ spend limits


def test_spend_limits_plan_is_a_dry_run_then_apply_converges_to_the_file(sim, tmp_path):
    members = current_members(sim)
    raised, unlimited, zero = [m for m in members if m.role == "member"][:3]
    path = write(
        tmp_path / "spend_limits.yaml",
        f"default: 75\nroles:\n  owner: null\nusers:\n  {raised.email}: 400\n"
        f"  {unlimited.email.upper()}: null\n  {zero.email}: 0\n",
    )

    def wanted(m) -> int | None:
        return {raised.email: 400, unlimited.email: None, zero.email: 0}.get(
            m.email, None if m.role == "owner" else 75
        )

    db = tmp_path / "cursor.duckdb"
    res, instance = resources(sim, db), dg.DagsterInstance.ephemeral()
    take_snapshots(res, instance)
    sim.reset_requests()

    planned = run("spend_limits_job", SPEND_OP, res, instance, path=path)
    plan = planned.output_for_node(SPEND_OP)["plan"]
    expected_changes = {m.email: wanted(m) for m in members if m.monthly_limit != wanted(m)}
    assert {c.email: c.after for c in plan.changes} == expected_changes
    assert {c.email: c.before for c in plan.changes} == {
        m.email: m.monthly_limit for m in members if m.email in expected_changes
    }
    markdown = output_metadata(planned, SPEND_OP)["plan"].value
    assert f"| {escape_markdown(raised.email)} | member |" in markdown and "$400" in markdown
    assert sim.request_count() == 0  # a plan reads the stored snapshot: no request at all

    applied = run("spend_limits_job", SPEND_OP, res, instance, path=path, apply=True)
    assert {m.email: m.monthly_limit for m in members} == {m.email: wanted(m) for m in members}
    assert sim.request_count(LIMIT_PATH) == len(expected_changes)  # the changes only
    rows = audit_rows(db)
    assert sorted(
        (r[1], json.loads(r[2])["spend_limit_dollars"], json.loads(r[3])["spend_limit_dollars"]) for r in rows
    ) == sorted((c.email, c.before, c.after) for c in plan.changes)
    assert {r[0] for r in rows} == {"set_user_spend_limit"} and {r[4] for r in rows} == {"success"}
    assert {r[5] for r in rows} == {applied.run_id}
    assert {r[6] for r in rows} == {plan.source.sha256}
    latest = instance.get_latest_materialization_event(raw.spend_snapshots.key)
    assert latest.run_id == applied.run_id  # the apply's effect is a new spend snapshot
    assert query(
        db,
        "SELECT count(*) FROM raw.spend_snapshots WHERE snapshot_at = (SELECT max(snapshot_at) "
        "FROM raw.spend_snapshots) AND monthly_limit_dollars = 400 AND lower(email) = ?",
        [raised.email],
    ) == [(1,)]

    again = run("spend_limits_job", SPEND_OP, res, instance, path=path)
    assert again.output_for_node(SPEND_OP)["plan"].empty
    assert "No changes" in output_metadata(again, SPEND_OP)["plan"].value


def test_spend_limits_plan_needs_a_snapshot_or_refresh(sim, tmp_path):
    path = write(tmp_path / "spend_limits.yaml", "default: null\n")
    res, instance = resources(sim, tmp_path / "cursor.duckdb"), dg.DagsterInstance.ephemeral()
    with pytest.raises(spend_limits.MissingSnapshot, match="cursor_snapshot_job"):
        run("spend_limits_job", SPEND_OP, res, instance, path=path)
    result = run("spend_limits_job", SPEND_OP, res, instance, path=path, refresh=True)
    plan = result.output_for_node(SPEND_OP)["plan"]
    assert {c.email for c in plan.changes} == {
        m.email for m in current_members(sim) if m.monthly_limit is not None
    }
    for key in (raw.team_members.key, raw.spend_snapshots.key):
        assert instance.get_latest_materialization_event(key).run_id == result.run_id
    assert sim.request_count(LIMIT_PATH) == 0


def test_a_failed_write_stops_the_apply_and_everything_written_is_audited(sim, tmp_path):
    path = write(tmp_path / "spend_limits.yaml", "default: 5\n")
    db = tmp_path / "cursor.duckdb"
    res, instance = resources(sim, db, max_attempts=1), dg.DagsterInstance.ephemeral()
    take_snapshots(res, instance)
    sim.faults = Faults(error_rate=0.4, seed=0, paths=(LIMIT_PATH,))  # draws: 4 successes, then a 500
    failed = run("spend_limits_job", SPEND_OP, res, instance, raise_on_error=False, path=path, apply=True)
    assert not failed.success
    error = failed.failure_data_for_node(SPEND_OP).error.cause  # the op's own exception
    assert error.cls_name == "WriteFailed" and "recorded in governance.audit_log" in error.message
    rows = audit_rows(db)
    succeeded = {r[1] for r in rows if r[4] == "success"}
    # a 500 does not say whether the write was made: its row stays pending, not "error"
    assert [r[4] for r in rows] == ["success"] * 4 + ["pending"]
    assert "Whether it reached Cursor is not known" in error.message
    assert len(succeeded) == 4
    assert {m.email for m in current_members(sim) if m.monthly_limit == 5} == succeeded
    # the limits did change, so the failed run still records the snapshot that shows it
    assert instance.get_latest_materialization_event(raw.spend_snapshots.key).run_id == failed.run_id

    sim.faults = Faults()
    run("spend_limits_job", SPEND_OP, res, instance, path=path, apply=True)
    assert {m.monthly_limit for m in current_members(sim)} == {5}
    # the next apply settled the pending row against its fresh snapshot: the 500 wrote nothing
    (settled,) = query(
        db,
        "SELECT target, outcome, message FROM governance.audit_log WHERE write_id = ?",
        [next(r[7] for r in audit_rows(db) if r[4] not in ("success",))],
    )
    assert (
        settled[0] == rows[-1][1]
        and settled[1] == "not_written"
        and "still shows the limit before" in settled[2]
    )
    assert run("spend_limits_job", SPEND_OP, res, instance, path=path).output_for_node(SPEND_OP)["plan"].empty


# ------------------------------------------------------------------ repo blocklists


def test_blocklists_plan_apply_and_prune_converge_to_the_file(sim, tmp_path):
    seeded = {r["url"]: r["patterns"] for r in sim.blocklists}
    vault, api = sorted(seeded, key=lambda u: "secrets-vault" not in u)
    org = api.rsplit("/", 1)[0]
    wanted = {api: ["config/*", "**/*.pem", "*.env"], f"{org}/payments": ["*.env", "src/keys/keys.ts"]}
    path = write(
        tmp_path / "repo_blocklists.yaml",
        "repos:\n" + "".join(f"  {u}:\n" + "".join(f'    - "{p}"\n' for p in ps) for u, ps in wanted.items()),
    )
    db = tmp_path / "cursor.duckdb"
    res, instance = resources(sim, db), dg.DagsterInstance.ephemeral()

    planned = run("repo_blocklists_job", BLOCKLIST_OP, res, instance, path=path)
    plan = planned.output_for_node(BLOCKLIST_OP)["plan"]
    assert [(c.action, c.url) for c in plan.changes] == [
        ("add", f"{org}/payments"),
        ("change", api),
        ("remove", vault),
    ]
    assert "remove (needs --prune)" in output_metadata(planned, BLOCKLIST_OP)["plan"].value
    assert sim.request_count(UPSERT_PATH) == 0 and len(sim.blocklists) == 2

    kept = run("repo_blocklists_job", BLOCKLIST_OP, res, instance, path=path, apply=True)
    assert sim.request_count(UPSERT_PATH) == 1  # added and changed repositories in one call
    assert {r["url"]: r["patterns"] for r in sim.blocklists} == {**wanted, vault: seeded[vault]}
    assert instance.get_latest_materialization_event(raw.repo_blocklists.key).run_id == kept.run_id

    pruned = run("repo_blocklists_job", BLOCKLIST_OP, res, instance, path=path, apply=True, prune=True)
    assert {r["url"]: r["patterns"] for r in sim.blocklists} == wanted
    assert sim.request_count(UPSERT_PATH) == 1
    assert sum(r.method == "DELETE" for r in sim.requests) == 1
    assert [(r[0], r[1], r[4]) for r in audit_rows(db)] == [
        ("upsert_repo_blocklist", f"{org}/payments", "success"),
        ("upsert_repo_blocklist", api, "success"),
        ("delete_repo_blocklist", vault, "success"),
    ]
    assert query(
        db,
        "SELECT url, patterns FROM raw.repo_blocklists WHERE snapshot_at = "
        "(SELECT max(snapshot_at) FROM raw.repo_blocklists) ORDER BY url",
    ) == sorted((u, json.dumps(ps, separators=(",", ":"))) for u, ps in wanted.items())
    assert instance.get_latest_materialization_event(raw.repo_blocklists.key).run_id == pruned.run_id

    again = run("repo_blocklists_job", BLOCKLIST_OP, res, instance, path=path, prune=True)
    assert again.output_for_node(BLOCKLIST_OP)["plan"].changes == ()


def test_an_upsert_left_without_an_answer_stays_pending_until_the_next_plan_settles_it(sim, tmp_path):
    url = "https://github.com/acme/app"
    path = write(tmp_path / "repo_blocklists.yaml", f'repos:\n  {url}:\n    - "*.env"\n')
    db = tmp_path / "cursor.duckdb"
    res, instance = resources(sim, db, max_attempts=1), dg.DagsterInstance.ephemeral()
    sim.faults = Faults(truncate_rate=1.0, paths=(UPSERT_PATH,))  # applied, then the answer is cut off
    failed = run(
        "repo_blocklists_job", BLOCKLIST_OP, res, instance, raise_on_error=False, path=path, apply=True
    )
    error = failed.failure_data_for_node(BLOCKLIST_OP).error.cause
    assert "Whether it reached Cursor is not known" in error.message
    assert [(r[1], r[4]) for r in audit_rows(db)] == [(url, "pending")]
    assert url in {r["url"] for r in sim.blocklists}  # it did reach Cursor

    sim.faults = Faults()
    planned = run("repo_blocklists_job", BLOCKLIST_OP, res, instance, path=path)  # a plan, no apply
    assert url not in {c.url for c in planned.output_for_node(BLOCKLIST_OP)["plan"].changes}
    (row,) = query(db, "SELECT outcome, message FROM governance.audit_log")
    assert row[0] == "success" and row[1].startswith(f"settled by run {planned.run_id}")


@pytest.mark.parametrize(
    "pattern", ["*", "*.env", "config/*", "**/*.secret", "src/api/keys.ts", "docs/**", ".github/*"]
)
def test_the_contracts_glob_forms_are_accepted(pattern):
    assert blocklists.pattern_problem(pattern) is None


@pytest.mark.parametrize(
    "pattern, says",
    [
        ("", "empty"),
        ("/config/*", "relative to the repository root"),
        ("config/", "ends with '/'"),
        ("src/[ab].ts", "not among the documented glob forms"),
        ("a?.env", "not among the documented glob forms"),
        ("!*.env", "not among the documented glob forms"),
        ("a**b/c", "whole folder segment"),
        ("**/**/x", "repeats"),
        ("../x", "without . or .."),
        ("a//b", "empty folder name"),
        (" *.env", "leading or trailing spaces"),
        ("src\\keys.ts", "separate folders with '/'"),
    ],
)
def test_other_patterns_are_rejected_with_the_fix(pattern, says):
    assert says in blocklists.pattern_problem(pattern)


# ------------------------------------------------------------------ invalid files


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """A simulator with stored snapshots, for checks that must make no request at all."""
    with Simulator(seed=7, users=12, days=40, minute_seconds=1.0, now=NOW) as sim:
        db = tmp_path_factory.mktemp("governance") / "cursor.duckdb"
        res = resources(sim, db)
        take_snapshots(res, dg.DagsterInstance.ephemeral())
        yield sim, db, res


def _member(sim: Simulator, removed: bool = False) -> str:
    return next(m.email for m in sim.team.member_list if m.removed == removed and m.role == "member")


INVALID = [
    ("spend", "default: 100\nusers:\n  {member}: 12.5\n", 3, "users.{member}", "fractional dollars (12.5)"),
    (
        "spend",
        "default: 100\nusers:\n  nobody@example.com: 10\n",
        3,
        "users.nobody@example.com",
        "is not a member",
    ),
    ("spend", "default: 100\nusers:\n  {removed}: 10\n", 3, "users.{removed}", "has been removed"),
    ("spend", "default: 100\nroles:\n  member: 10\nlimit: 5\n", 4, "limit", "unknown key"),
    ("spend", "default: 100\nroles:\n  admin: 10\n", 3, "roles.admin", "unknown role"),
    (
        "blocklists",
        'repos:\n  https://github.com/x/y:\n    - "*.env"\n    - "/keys/*"\n',
        4,
        "repos.https://github.com/x/y[1]",
        "starts with '/'",
    ),
    ("blocklists", "repos:\n  https://github.com/x/y:\n    - *.env\n", 3, "(syntax)", "quote it"),
    ("blocklists", "repos: {}\nprune: true\n", 2, "prune", "unknown key"),
]


@pytest.mark.parametrize("kind, text, line, field, says", INVALID, ids=[f"{k}-{s}" for k, *_, s in INVALID])
def test_an_invalid_file_fails_naming_line_and_field_before_any_request(
    team, tmp_path, monkeypatch, kind, text, line, field, says
):
    sim, db, res = team
    names = {"{member}": _member(sim), "{removed}": _member(sim, removed=True)}
    for placeholder, email in names.items():
        text, field = text.replace(placeholder, email), field.replace(placeholder, email)
    path = write(tmp_path / f"{kind}.yaml", text)
    where = f"{path}:{line}: {field}: "
    job, op, config = (
        ("spend_limits_job", SPEND_OP, {})
        if kind == "spend"
        else ("repo_blocklists_job", BLOCKLIST_OP, {"prune": True})
    )
    sim.reset_requests()

    with pytest.raises(GovernanceFileError) as raised:
        run(job, op, res, dg.DagsterInstance.ephemeral(), path=path, apply=True, **config)
    assert where in str(raised.value) and says in str(raised.value)

    monkeypatch.setenv("CURSOR_API_KEY", sim.api_key)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    command = "spend-limits" if kind == "spend" else "blocklists"
    cli = CliRunner().invoke(
        main, [command, "apply", "--yes", "--file", path, "--db", str(db), "--base-url", sim.base_url]
    )
    assert cli.exit_code == 1 and where in cli.output and "Nothing was applied" in cli.output
    assert sim.request_count() == 0  # counted at the server: not even a read


# ------------------------------------------------------------------ the command line


def test_cli_apply_is_a_dry_run_without_yes_and_writes_with_it(sim, tmp_path, monkeypatch):
    db = tmp_path / "cursor.duckdb"
    take_snapshots(resources(sim, db), dg.DagsterInstance.ephemeral())
    spend = write(tmp_path / "spend.yaml", "default: 30\nroles:\n  owner: null\n  free-owner: null\n")
    blocks = write(tmp_path / "blocks.yaml", 'repos:\n  https://github.com/acme/app:\n    - "*.env"\n')
    monkeypatch.setenv("CURSOR_API_KEY", sim.api_key)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("CURSOR_ANALYTICS_ACTOR", "reviewer@example.com")
    cli = CliRunner()
    common = ["--db", str(db)]
    members = current_members(sim)
    sim.reset_requests()

    shown = cli.invoke(main, ["spend-limits", "plan", "--file", spend, *common])
    assert shown.exit_code == 0, shown.output
    assert "| $30 | default (line 1) |" in shown.output
    dry = cli.invoke(main, ["spend-limits", "apply", "--file", spend, *common, "--base-url", sim.base_url])
    assert dry.exit_code == 0 and "Dry run: nothing was changed" in dry.output
    assert sim.request_count() == 0

    done = cli.invoke(
        main, ["spend-limits", "apply", "--yes", "--file", spend, *common, "--base-url", sim.base_url]
    )
    assert done.exit_code == 0, done.output
    assert {m.email: m.monthly_limit for m in members} == {
        m.email: None if m.role in ("owner", "free-owner") else 30 for m in members
    }
    assert "No changes" in cli.invoke(main, ["spend-limits", "plan", "--file", spend, *common]).output
    fresh = cli.invoke(
        main, ["spend-limits", "plan", "--refresh", "--file", spend, *common, "--base-url", sim.base_url]
    )
    assert (
        fresh.exit_code == 0
        and "No changes" in fresh.output
        and sim.request_count(LIMIT_PATH)
        == len(
            [m for m in members if m.role not in ("owner", "free-owner")]  # seeded limits differ from 30
        )
    )

    dry = cli.invoke(
        main, ["blocklists", "apply", "--prune", "--file", blocks, *common, "--base-url", sim.base_url]
    )
    assert dry.exit_code == 0 and "Dry run" in dry.output and len(sim.blocklists) == 2
    done = cli.invoke(
        main,
        ["blocklists", "apply", "--prune", "--yes", "--file", blocks, *common, "--base-url", sim.base_url],
    )
    assert done.exit_code == 0, done.output
    assert [(r["url"], r["patterns"]) for r in sim.blocklists] == [("https://github.com/acme/app", ["*.env"])]

    assert {r[0] for r in query(db, "SELECT actor FROM governance.audit_log")} == {"reviewer@example.com"}
    with dg.DagsterInstance.get() as instance:  # $DAGSTER_HOME: the runs the CLI recorded
        assert {r.job_name for r in instance.get_runs()} == {"spend_limits_job", "repo_blocklists_job"}
    assert sim.api_key not in done.output


# ------------------------------------------------------------------ budget view


def test_budget_lists_members_projected_over_their_limit_and_warns(sim, tmp_path):
    spenders = sorted(
        (r for r in sim.team.spend_rows() if r["spendCents"] > 0 and r["role"] == "member"),
        key=lambda r: -r["spendCents"],
    )
    over, under = spenders[0]["email"], spenders[1]["email"]
    path = write(tmp_path / "limits.yaml", f"default: null\nusers:\n  {over}: 0\n  {under}: 1000000\n")
    db = tmp_path / "cursor.duckdb"
    res, instance = resources(sim, db), dg.DagsterInstance.ephemeral()
    take_snapshots(res, instance)
    run("spend_limits_job", SPEND_OP, res, instance, path=path, apply=True)

    result = dg.materialize(
        [*ALL_ASSETS, *defs.asset_checks],
        selection=dg.AssetSelection.assets(["analytics", "spend_per_user"], ["analytics", "spend_budget"]),
        resources=res,
        instance=instance,
    )
    assert query(
        db,
        "SELECT email, limit_dollars, projected_over_limit, at_limit_now FROM analytics.spend_budget ORDER BY email",
    ) == sorted([(over, 0.0, True, True), (under, 1000000.0, False, False)])
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "no_member_projected_over_limit"
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["members_projected_over_limit"].value == 1
    members = check.metadata["members"].value
    assert escape_markdown(over) in members and escape_markdown(under) not in members


# ------------------------------------------------------------------ what ships


def test_the_shipped_files_are_valid_and_name_members_of_the_demo_team():
    limits = spend_limits.load_spend_limits(ROOT / spend_limits.DEFAULT_PATH)
    repos = blocklists.load_repo_blocklists(ROOT / blocklists.DEFAULT_PATH)
    demo = Simulator(seed=7, users=40, days=60)  # `cursor-analytics demo`'s team (not started)
    current = {m.email for m in current_members(demo)}
    assert limits.users and set(limits.users) <= current
    org = demo.team.member_list[0].email.split("@")[1].split(".")[0]
    assert repos.repos and all(url.startswith(f"https://github.com/{org}/") for url in repos.repos)


def test_governance_jobs_budget_asset_and_check_are_in_the_definitions():
    assert {"spend_limits_job", "repo_blocklists_job"} <= {j.name for j in defs.jobs}
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["analytics", "spend_budget"])).parent_keys == {
        dg.AssetKey(["analytics", "spend_per_user"])
    }
    assert dg.AssetCheckKey(dg.AssetKey(["analytics", "spend_budget"]), "no_member_projected_over_limit") in {
        key for check in defs.asset_checks for key in check.check_keys
    }
