"""The Dagster instance folder the commands run in: $DAGSTER_HOME, else .dagster_home/ with the
repository's dagster.yaml copied in (the same instance `make ui` shows)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def prepare_dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and Path("dagster.yaml").exists():
        shutil.copy("dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
