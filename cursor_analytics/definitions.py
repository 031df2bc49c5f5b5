"""The cursor-analytics code location: one Definitions object assembling assets, checks, jobs,
schedules, sensors and resources. Cross-cutting policy is applied here, nowhere else."""

import os
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from cursor_analytics.defs.freshness import automation

from cursor_analytics.defs.ingestion import checks
from cursor_analytics.defs.metrics import budget as budget
from cursor_analytics.defs.metrics import assets as metrics
from cursor_analytics.defs.ingestion import assets as raw
from cursor_analytics.defs.governance.jobs import governance_jobs
from cursor_analytics.defs.jobs import cursor_daily_job, cursor_snapshot_job
from cursor_analytics.defs.resources import build_resources
from cursor_analytics.defs.freshness.schedules import build_daily_schedule, cursor_snapshot_schedule
from cursor_analytics.defs.freshness.sensors import build_freshness_alert_sensor, build_stale_partitions_sensor

GIT_URL_ENV, GIT_BRANCH_ENV = "CURSOR_ANALYTICS_GIT_URL", "CURSOR_ANALYTICS_GIT_BRANCH"


def with_code_references(
    assets: Sequence[dg.AssetsDefinition], git_url: str | None = None, git_branch: str = "main"
) -> Sequence[dg.AssetsDefinition]:
    """Link every asset to the line of code that defines it: a local file (the UI's "open in
    editor"), or, with `git_url` (CURSOR_ANALYTICS_GIT_URL), that file on GitHub or GitLab at
    `git_branch` (CURSOR_ANALYTICS_GIT_BRANCH, default main)."""
    assets = dg.with_source_code_references(assets)
    if not git_url:
        return assets
    if "github" not in git_url and "gitlab" not in git_url:
        raise ValueError(
            f"{GIT_URL_ENV}={git_url!r} is not a GitHub or GitLab repository URL: set it to the "
            "repository's web address (https://github.com/<org>/<repo>) or unset it."
        )
    return dg.link_code_references_to_git(
        assets,
        git_url=git_url.rstrip("/"),
        git_branch=git_branch,
        file_path_mapping=dg.AnchorBasedFilePathMapping(
            local_file_anchor=Path(__file__),
            file_anchor_path_in_repository="cursor_analytics/definitions.py",
        ),
    )


assets = with_code_references(
    [
        *raw.partitioned_raw_assets,
        *raw.snapshot_raw_assets,
        *metrics.partitioned_metric_assets,
        *metrics.snapshot_metric_assets,
        *budget.assets,
    ],
    os.environ.get(GIT_URL_ENV, "").strip() or None,
    os.environ.get(GIT_BRANCH_ENV, "").strip() or "main",
)
# freshness policies on every raw and metric asset; partitioned metrics follow their raw data
assets = automation.with_policies(assets)
asset_checks: list = [*budget.asset_checks, *checks.asset_checks]
jobs = [cursor_daily_job, cursor_snapshot_job, *governance_jobs]
schedules: list = [build_daily_schedule(), cursor_snapshot_schedule]
sensors: list = [
    build_stale_partitions_sensor(),
    build_freshness_alert_sensor(),
    automation.metrics_automation_sensor,
]

# Runs launched from the UI, schedules and sensors execute each asset in a process of its own:
# forked from a server that has imported this code location once (spawning re-imports Dagster
# and this package in every step: seconds of CPU per step), and enough of them side by side
# for every Cursor endpoint to be fetched at its own rate limit (API steps mostly wait).
executor = dg.multiprocess_executor.configured(
    {
        "max_concurrent": 8,
        "start_method": {"forkserver": {"preload_modules": ["cursor_analytics.definitions"]}},
    }
)

defs = dg.Definitions(
    assets=assets,
    asset_checks=asset_checks,
    jobs=jobs,
    schedules=schedules,
    sensors=sensors,
    resources=build_resources(),
    executor=executor,
)
