"""The dbt project as Dagster sees it, and how its manifest is prepared."""

import fcntl
import shutil
import sys
import time
from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed_version
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging import version

DBT_PROJECT_DIR = Path(__file__).resolve().parents[3] / "dbt_project"

# The dbt installed beside this Python (the dbt-core that dagster-dbt imports), so an
# unactivated virtualenv works too; another dbt on PATH only when there is none here.
_BESIDE_PYTHON = Path(sys.executable).parent / "dbt"
DBT_EXECUTABLE = str(_BESIDE_PYTHON) if _BESIDE_PYTHON.exists() else shutil.which("dbt") or "dbt"
SOE_DBT_EXECUTABLE = str(_BESIDE_PYTHON.with_name("soe-dbt"))

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
dbt_project.prepare_if_dev()


def prepare_manifest() -> Path:
    """Run `dbt parse` when the manifest is missing or older than any project file.

    `prepare_if_dev()` only acts under `dagster dev`; the CLI and the tests call this. A lock
    file lets one process parse while others wait (test workers start together, two runs
    may too), so nobody reads a manifest being written.
    """
    manifest = dbt_project.manifest_path
    if not _manifest_stale(manifest):
        return manifest
    lock = dbt_project.project_dir / dbt_project.target_path / ".parse.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if _manifest_stale(manifest):  # unless another process parsed while we waited
            dbt_cli().cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    return manifest


def _manifest_stale(manifest: Path) -> bool:
    sources = [
        p
        for p in DBT_PROJECT_DIR.rglob("*")
        if p.suffix in {".sql", ".py", ".yml", ".csv"} and "target" not in p.parts
    ]
    return not manifest.exists() or max(p.stat().st_mtime for p in sources) > manifest.stat().st_mtime


# A target folder written to this recently may be in use by another process's dbt.
IN_USE_SECONDS = 3600


def prune_target_folders(keep: Path, max_folders: int = 5) -> None:
    """Keep the most recently used per-warehouse dbt target folders beside `keep`, not one
    per warehouse ever; and any folder used within IN_USE_SECONDS, whatever its rank: a run
    on another warehouse (or a parallel test) may be building in it right now."""
    now = time.time()
    used = {folder: _last_used(folder) for folder in keep.parent.glob("run-*") if folder != keep}
    ranked = sorted((f for f, when in used.items() if when is not None), key=used.get, reverse=True)
    for folder in ranked[max_folders - 1 :]:
        if now - used[folder] > IN_USE_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)


def _last_used(folder: Path) -> float | None:
    """When dbt last wrote to the folder (its log grows while dbt runs); None if it is gone."""
    try:
        log = folder / "dbt.log"
        return max(folder.stat().st_mtime, log.stat().st_mtime if log.exists() else 0.0)
    except FileNotFoundError:  # pruned by another process meanwhile
        return None


class SoeDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt CLI resource without two start-up costs this project never uses.

    Before every `dbt.cli(...)` dagster-dbt runs `dbt --version` in a subprocess and opens a
    dbt adapter in the Dagster process (dbt imports and every macro loaded), about 5.5 s per
    run at medium (benchmarks/README.md). The adapter only serves `fetch_row_counts()` and
    `fetch_column_metadata()`, which these assets do not call; the version is that of the
    dbt-core installed beside this Python when that is the executable run.
    """

    @cached_property
    def _cli_version(self) -> version.Version:
        if Path(self.dbt_executable).parent == _BESIDE_PYTHON.parent:
            return version.parse(installed_version("dbt-core"))
        return super()._cli_version

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:
        return None


def dbt_cli() -> DbtCliResource:
    return SoeDbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)


def engine_cli(target: str) -> DbtCliResource:
    """dbt for a profile target other than DuckDB's: `soe-dbt` (soe_pipeline.spark_engine:
    dbt that runs the Python models on the Spark session)."""
    return SoeDbtCliResource(
        project_dir=dbt_project, dbt_executable=SOE_DBT_EXECUTABLE, target=target
    )


def mart_model_names() -> list[str]:
    """dbt models under models/marts: the BI contract tables (DESIGN section 5)."""
    from soe_pipeline.engines import mart_columns, read_manifest

    return sorted(mart_columns(read_manifest(dbt_project.manifest_path)))
