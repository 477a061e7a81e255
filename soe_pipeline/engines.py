"""Where the dbt models run: DuckDB (the default) or Apache Spark (README, "Scaling out").

Ingestion (contract checks, rejects, lineage, per-file work) and publishing stay on the
DuckDB warehouse file for both engines; only the dbt build moves. On Spark:

1. `export_raw`: the raw tables dbt reads (its sources) are written as Parquet under the
   run's Spark folder, one folder per table; dbt's `on-run-start` hook (macro
   `register_raw_tables`) declares them as Spark tables `raw.<table>`.
2. dbt builds every model with `soe-dbt` (soe_pipeline.spark_engine) on the `spark` target
   of dbt_project/profiles.yml: SQL models on Spark, the Python models on its driver.
3. `import_marts`: the marts (Parquet in Spark's warehouse) are read back into the DuckDB
   warehouse's `marts` schema with their contract's columns and types, so publishing, the
   brief and BI see the same tables whichever engine built them.

Each run re-exports the raw tables whole: simple and exact, and at the demo tier small
(README, "Scaling out", for the figures and what a cluster set-up changes).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

ENGINES = ("duckdb", "spark")
DEFAULT_ENGINE = "duckdb"
# The Spark folder of a run (raw Parquet, Spark's warehouse and metastore), read by
# dbt_project/profiles.yml and the register_raw_tables macro.
SPARK_FOLDER_ENV = "SOE_SPARK_WAREHOUSE"
SPARK_TARGET = "spark"
# dbt's types in the contracts -> DuckDB's (Spark's `string` is DuckDB's varchar).
_DUCKDB_TYPES = {"string": "varchar"}


def spark_folder(warehouse: Path) -> Path:
    """The Spark folder beside a DuckDB warehouse file: `<warehouse>.spark`."""
    warehouse = Path(warehouse)
    return warehouse.with_name(f"{warehouse.name}.spark")


def raw_folder(folder: Path) -> Path:
    return Path(folder) / "raw"


def export_raw(con: duckdb.DuckDBPyConnection, folder: Path, manifest: dict) -> list[str]:
    """Write every raw table that dbt reads (a source of the manifest) as Parquet to
    `<folder>/raw/<table>/part-0.parquet`, replacing the last run's; returns the tables."""
    from soe_pipeline.landing import sql_literal as _literal  # (landing imports deployment)

    tables = sorted(
        {s["identifier"] for s in manifest["sources"].values() if s["schema"] == "raw"}
    )
    for table in tables:
        target = raw_folder(folder) / table
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        con.execute(
            f"copy raw.{table} to {_literal(str(target / 'part-0.parquet'))} (format parquet)"
        )
    return tables


def mart_columns(manifest: dict) -> dict[str, list[tuple[str, str]]]:
    """Each mart's contract: (column, DuckDB type) in the contract's order."""
    return {
        node["name"]: [
            (name, _DUCKDB_TYPES.get(column["data_type"], column["data_type"]))
            for name, column in node["columns"].items()
        ]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1:2] == ["marts"]
    }


def import_marts(con: duckdb.DuckDBPyConnection, folder: Path, manifest: dict) -> list[str]:
    """Replace the DuckDB warehouse's marts with the ones Spark built (Parquet under
    `<folder>/warehouse/marts.db`; a partitioned table's partition columns come from its
    folder names)."""
    from soe_pipeline.landing import sql_literal as _literal

    marts = mart_columns(manifest)
    con.execute("create schema if not exists marts")
    for name, columns in marts.items():
        files = Path(folder) / "warehouse" / "marts.db" / name / "**" / "*.parquet"
        select = ", ".join(f"cast({column} as {type_}) as {column}" for column, type_ in columns)
        con.execute(
            f"create or replace table marts.{name} as select {select} "
            f"from read_parquet({_literal(str(files))}, hive_partitioning = true, "
            "union_by_name = true)"
        )
    return sorted(marts)


def read_manifest(path: Path) -> dict:
    return json.loads(Path(path).read_text())
