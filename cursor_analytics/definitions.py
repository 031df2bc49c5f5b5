"""The cursor-analytics code location: the definitions of `defs/` (one folder per concern,
loaded by Dagster's `load_from_defs_folder`), with the cross-cutting policy applied here and
nowhere else."""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import dagster as dg

from cursor_analytics.defs.freshness import automation

GIT_URL_ENV, GIT_BRANCH_ENV = "CURSOR_ANALYTICS_GIT_URL", "CURSOR_ANALYTICS_GIT_BRANCH"


def with_code_references(
    assets: Sequence[dg.AssetsDefinition], git_url: str | None = None, git_branch: str = "main"
) -> Sequence[dg.AssetsDefinition]:
    """Link every asset to the line of code that defines it: a local file (the UI's "open in
    editor"), or, with `git_url` (CURSOR_ANALYTICS_GIT_URL), that file on GitHub or GitLab at
    `git_branch` (CURSOR_ANALYTICS_GIT_BRANCH, default main)."""
    # Both Dagster functions return the kinds of definitions they are given (here AssetsDefinition)
    # but are annotated with the union of every kind.
    assets = cast(Sequence[dg.AssetsDefinition], dg.with_source_code_references(assets))
    if not git_url:
        return assets
    if "github" not in git_url and "gitlab" not in git_url:
        raise ValueError(
            f"{GIT_URL_ENV}={git_url!r} is not a GitHub or GitLab repository URL: set it to the "
            "repository's web address (https://github.com/<org>/<repo>) or unset it."
        )
    linked = dg.link_code_references_to_git(
        assets,
        git_url=git_url.rstrip("/"),
        git_branch=git_branch,
        file_path_mapping=dg.AnchorBasedFilePathMapping(
            local_file_anchor=Path(__file__),
            file_anchor_path_in_repository="cursor_analytics/definitions.py",
        ),
    )
    return cast(Sequence[dg.AssetsDefinition], linked)


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


def apply_policy(loaded: dg.Definitions) -> dg.Definitions:
    """The definitions of `defs/` with the policy every asset shares: code references (to git
    with CURSOR_ANALYTICS_GIT_URL), freshness policies and automation conditions, and the
    executor."""
    assets = with_code_references(
        # defs/ defines its assets with @dg.asset only: every one is an AssetsDefinition
        cast(list[dg.AssetsDefinition], list(loaded.assets or [])),
        os.environ.get(GIT_URL_ENV, "").strip() or None,
        os.environ.get(GIT_BRANCH_ENV, "").strip() or "main",
    )
    return dg.Definitions(
        assets=automation.with_policies(assets),
        asset_checks=loaded.asset_checks,
        jobs=loaded.jobs,
        schedules=loaded.schedules,
        sensors=loaded.sensors,
        resources=loaded.resources,
        executor=executor,
    )


defs = apply_policy(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
