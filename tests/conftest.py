"""Shared fixtures: dbt is parsed once per session; every run uses a temporary warehouse."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# dagster-dbt looks for `dbt` on PATH: use the one installed beside this Python.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    from soe_pipeline.defs.transform.project import prepare_manifest

    return prepare_manifest()


@pytest.fixture
def run_cycle(tmp_path):
    """Run the weekly cycle through Dagster on a landing folder; returns the outcome."""
    from soe_pipeline.runner import run_weekly_cycle

    def run(landing: Path, as_of: dt.date, warehouse: Path | None = None, **kwargs):
        return run_weekly_cycle(
            landing=landing,
            warehouse=warehouse or tmp_path / "warehouse.duckdb",
            exports=kwargs.pop("exports", tmp_path / "exports"),
            as_of=as_of,
            progress=False,
            **kwargs,
        )

    return run


def query(warehouse: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()
