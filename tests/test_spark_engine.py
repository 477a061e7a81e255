"""Issue 28: the weekly cycle with the dbt models on local Apache Spark gives the marts of the
DuckDB run: the same rows, values equal within rounding, after sorting; the CLI prints the
same exception summary.

One small seeded scenario (20 SKUs, 200 SKU-locations, a year of history) through the real
pipeline twice: `run_weekly_cycle(engine="spark")` runs dbt-spark's session method (a local
Spark in the `soe-dbt` process: Java 17, pyspark) on the raw tables exported as Parquet and
reads the marts back into the warehouse (soe_pipeline.engines).
"""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import numpy as np
import pandas as pd
import pytest

from soe_pipeline.cli import _print_summary
from soe_pipeline.engines import spark_folder
from soe_pipeline.runner import run_weekly_cycle
from soe_pipeline.simulate import generate

AS_OF = dt.date(2025, 6, 4)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    work = tmp_path_factory.mktemp("engines")
    scenario = generate(work / "scenario", scale="demo", seed=5, as_of=AS_OF, n_skus=20,
                        history_weeks=52)
    outcomes = {}
    for engine in ("duckdb", "spark"):
        outcomes[engine] = run_weekly_cycle(
            landing=scenario.landing_dir, warehouse=work / engine / "warehouse.duckdb",
            exports=work / engine / "exports", as_of=AS_OF, progress=False, engine=engine,
        )
        assert outcomes[engine].success, outcomes[engine].errors
    return outcomes


def marts(warehouse) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        names = [r[0] for r in con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' and table_catalog = current_database()").fetchall()]
        return {name: con.execute(f"select * from marts.{name}").df() for name in names}


def normalized(frame: pd.DataFrame) -> pd.DataFrame:
    """Numbers rounded to 6 decimals, everything else as text (null as None), rows sorted."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = pd.to_numeric(values).astype(float).round(6)
            out[column] = numbers.map(lambda v: None if np.isnan(v) else repr(v))
        else:
            out[column] = values.map(lambda v: None if v is None or v is pd.NaT
                                     or (isinstance(v, float) and np.isnan(v)) else str(v))
    result = pd.DataFrame(out)
    return result.sort_values(list(result.columns), na_position="last", ignore_index=True)


def test_spark_builds_the_marts_of_duckdb(runs):
    duck, spark = marts(runs["duckdb"].warehouse), marts(runs["spark"].warehouse)
    assert sorted(spark) == sorted(duck) and len(duck) == 11
    for name, expected in duck.items():
        got = spark[name]
        assert list(got.columns) == list(expected.columns), name
        assert list(got.dtypes) == list(expected.dtypes), name
        # The Dagster run's id is each run's own.
        same = [c for c in expected.columns if c != "run_id"]
        pd.testing.assert_frame_equal(normalized(got[same]), normalized(expected[same]), obj=name)
    # Not vacuous: the scenario raises exceptions, sensed forecasts and actions.
    assert len(duck["exceptions"]) > 20 and len(duck["recommended_actions"]) > 0
    assert len(duck["demand_sensing"]) == 200


def test_spark_run_prints_the_summary_of_the_duckdb_run(runs, capsys):
    printed = {}
    for engine, outcome in runs.items():
        _print_summary(outcome.exports)
        printed[engine] = re.sub(r"\S*exports\S*", "<exports>", capsys.readouterr().out)
    assert "open exceptions" in printed["duckdb"]
    assert printed["spark"] == printed["duckdb"]


def test_spark_keeps_its_work_beside_the_warehouse(runs):
    folder = spark_folder(runs["spark"].warehouse)
    assert (folder / "raw" / "pos__daily_sales" / "part-0.parquet").exists()
    assert (folder / "warehouse" / "marts.db" / "exceptions").is_dir()
    assert not spark_folder(runs["duckdb"].warehouse).exists()
