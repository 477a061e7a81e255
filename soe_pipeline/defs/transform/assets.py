"""Every dbt model (staging -> reconciled -> marts) as a Dagster asset; dbt tests as checks.

dbt sources `<system>.<extract>` and `pipeline.run_context` map to the ingestion and
run-context asset keys, so lineage runs unbroken from the landing folder to the marts. The
`engine` resource says where the models run: on the DuckDB warehouse, or on Apache Spark
(soe_pipeline.engines: the raw tables exported as Parquet, the marts read back after).
"""

import hashlib
import os
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets
from dagster_duckdb import DuckDBResource

from soe_pipeline import engines
from soe_pipeline.dbt_warehouse import WAREHOUSE_ENV
from soe_pipeline.defs.resources import EngineConfig
from soe_pipeline.defs.transform.project import dbt_project, engine_cli, prune_target_folders
from soe_pipeline.warehouse import MEMORY_LIMIT_ENV, memory_limit


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project)
def soe_dbt_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: DuckDBResource,
    engine: EngineConfig,
):
    """Build the selected dbt models and run their tests against this run's warehouse (on
    Spark: against its Spark folder, then the marts go back into the warehouse)."""
    database = str(Path(warehouse.database).resolve())
    os.environ[WAREHOUSE_ENV] = database
    os.environ[MEMORY_LIMIT_ENV] = str(warehouse.connection_config.get("memory_limit") or memory_limit())
    # One target folder per warehouse: runs on different warehouses never share their run
    # artifacts. dagster-dbt seeds a new folder with the project's partial-parse state, which
    # holds for every warehouse (soe_pipeline.dbt_warehouse).
    run_folder = f"run-{hashlib.sha1(database.encode()).hexdigest()[:10]}"
    if engine.name == engines.DEFAULT_ENGINE:
        target = dbt_project.target_path / run_folder
        # dagster-dbt reads a relative target path from the dbt project folder, not the cwd.
        prune_target_folders(dbt_project.project_dir / target)
        yield from dbt.cli(["build"], context=context, target_path=target).stream()
        return
    if engine.name != engines.SPARK_TARGET:
        raise dg.Failure(f"unknown engine {engine.name!r}; expected one of {engines.ENGINES}")
    # A target folder of its own: dbt's partial parse holds for one profile target.
    target = dbt_project.target_path / f"{run_folder}-spark"
    prune_target_folders(dbt_project.project_dir / target)
    manifest = engines.read_manifest(dbt_project.manifest_path)
    folder = engines.spark_folder(Path(database))
    with warehouse.get_connection() as con:
        tables = engines.export_raw(con, folder, manifest)
    context.log.info(f"Spark: {len(tables)} raw tables exported as Parquet to {folder}")
    os.environ[engines.SPARK_FOLDER_ENV] = str(folder)
    # Spark's Python workers (if any) use this Python, which has the pipeline installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark_dbt = engine_cli(engines.SPARK_TARGET)
    yield from spark_dbt.cli(["build"], context=context, target_path=target).stream()
    with warehouse.get_connection() as con:
        marts = engines.import_marts(con, folder, manifest)
    context.log.info(f"Spark: {len(marts)} marts read back into {database}")

