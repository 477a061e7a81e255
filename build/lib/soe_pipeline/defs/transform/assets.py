"""Every dbt model (staging -> reconciled -> marts) as a Dagster asset; dbt tests as checks.

dbt sources `<system>.<extract>` and `pipeline.run_context` map to the ingestion and
run-context asset keys, so lineage runs unbroken from the landing folder to the marts.
"""

import hashlib
import os
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from soe_pipeline.dbt_warehouse import WAREHOUSE_ENV
from soe_pipeline.defs.transform.project import dbt_project, prune_target_folders
from soe_pipeline.warehouse import MEMORY_LIMIT_ENV, memory_limit


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project)
def soe_dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: DuckDBResource
):
    """Build the selected dbt models and run their tests against this run's warehouse."""
    database = str(Path(warehouse.database).resolve())
    os.environ[WAREHOUSE_ENV] = database
    os.environ[MEMORY_LIMIT_ENV] = str(warehouse.connection_config.get("memory_limit") or memory_limit())
    # One target folder per warehouse: runs on different warehouses never share their run
    # artifacts. dagster-dbt seeds a new folder with the project's partial-parse state, which
    # holds for every warehouse (soe_pipeline.dbt_warehouse).
    target = dbt_project.target_path / f"run-{hashlib.sha1(database.encode()).hexdigest()[:10]}"
    # dagster-dbt reads a relative target path from the dbt project folder, not the cwd.
    prune_target_folders(dbt_project.project_dir / target)
    yield from dbt.cli(["build"], context=context, target_path=target).stream()

