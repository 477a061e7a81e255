"""Issue 28, engine-neutral SQL: the project compiled for DuckDB and for Spark, every model
and data test parsed in its engine's dialect, and the Spark build checked for DuckDB-only
constructs (soe_pipeline.sql_dialects). A model that uses DuckDB's own syntax outside a
dispatched macro (dbt_project/macros/cross_engine.sql) fails here, before any Spark run.

The Spark compile runs dbt-spark's session method: a local Spark in the dbt process (Java 17,
pyspark), on an empty warehouse of its own (incremental models compile their first build).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from soe_pipeline.sql_dialects import duckdb_only_constructs

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"


def compile_project(target: str, work: Path) -> Path:
    """`dbt compile` for `target` into `work`; returns the folder of compiled SQL."""
    env = {
        **os.environ,
        "SOE_WAREHOUSE_PATH": str(work / "warehouse.duckdb"),
        "SOE_SPARK_WAREHOUSE": str(work / "spark"),
        "PYSPARK_PYTHON": sys.executable,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = subprocess.run(
        [
            str(DBT),
            "compile",
            "--target",
            target,
            "--profiles-dir",
            str(DBT_PROJECT),
            "--project-dir",
            str(DBT_PROJECT),
            "--target-path",
            str(work / "target"),
            "--log-path",
            str(work / "logs"),
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work / "target" / "compiled" / "soe_pipeline"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> dict[str, list[Path]]:
    return {
        target: sorted(compile_project(target, tmp_path_factory.mktemp(target)).rglob("*.sql"))
        for target in ("duckdb", "spark")
    }


def test_every_model_compiles_for_both_engines(compiled):
    names = {target: {p.name for p in paths} for target, paths in compiled.items()}
    assert names["duckdb"] == names["spark"]
    models = {p.stem for p in compiled["spark"] if "/models/" in str(p) and ".yml" not in str(p)}
    # Every SQL model of the project (the Python models run outside dbt on Spark).
    sql_models = {p.stem for p in (DBT_PROJECT / "models").rglob("*.sql")}
    assert models == sql_models


def test_no_duckdb_only_construct_in_the_spark_build(compiled):
    found = {
        str(path.relative_to(path.parents[2])): problems
        for path in compiled["spark"]
        if (problems := duckdb_only_constructs(path.read_text(), "spark"))
    }
    assert not found, "DuckDB-only SQL outside a dispatched macro:\n" + "\n".join(
        f"{name}: {problems}" for name, problems in found.items()
    )


def test_the_duckdb_build_parses_as_duckdb(compiled):
    import sqlglot

    for path in compiled["duckdb"]:
        sqlglot.parse(path.read_text(), read="duckdb")


def test_the_check_finds_duckdb_only_syntax():
    """The check is not vacuous: what a DuckDB model would write is caught."""
    sql = (
        "with v as materialized (select * exclude (_loaded_at) from t) "
        "select k, arg_max(columns(* exclude (k)), r), hash(k), x::int from v "
        "anti join u using (k) qualify row_number() over (order by k) = 1"
    )
    found = " ".join(duckdb_only_constructs(sql))
    for construct in (
        "MATERIALIZED",
        "EXCLUDE",
        "arg_max()",
        "columns()",
        "hash()",
        ":: cast",
        "ANTI JOIN",
        "QUALIFY",
    ):
        assert construct in found
    assert (
        duckdb_only_constructs(
            "select max_by(a, b), xxhash64(a) from t left anti join u on t.a = u.a"
        )
        == []
    )
