"""The benchmark script end to end on a tiny demo-like tier (`--smoke`): generation, the
initial load and a steady-state week through Dagster, and the DuckDB floor, every stage
with its time, memory, rows and ratio to the floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "run_benchmark.py"
STAGES = ("ingest", "validate", "dbt", "publish", "total")


def _run(out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )


def _check_results(results: dict) -> None:
    assert results["history_check"]["identical"] is False  # why generation B feeds the events
    generation = results["generation"]
    assert generation["wall_s"] > 0 and generation["peak_rss_mb"] > 0
    assert set(results["cycles"]) == {"initial", "steady"}
    for name, cycle in results["cycles"].items():
        assert cycle["success"], (name, cycle["errors"])
        for stage in STAGES:
            figures = cycle["stages"][stage]
            assert figures["wall_s"] > 0, (name, stage)
            assert figures["peak_rss_mb"] > 0, (name, stage)
            assert figures["rows_in"] > 0 and figures["rows_out"] > 0, (name, stage)
            assert figures["floor_s"] > 0, (name, stage)
            assert figures["ratio"] is not None and figures["ratio"] > 0, (name, stage)
        # Every raw row read was loaded (the generator writes valid extracts), every mart
        # row was published, and the floor computed a projection to compare with the marts.
        assert cycle["stages"]["ingest"]["rows_in"] == cycle["stages"]["ingest"]["rows_out"]
        assert cycle["stages"]["publish"]["rows_in"] == cycle["stages"]["publish"]["rows_out"]
        # The floor is only a floor if it computes the same numbers as the pipeline.
        agreement = cycle["floor"]["agreement"]
        assert agreement["projection_rows"] > 0 and agreement["weekly_actuals_rows"] > 0
        assert agreement["projection_rows_differing"] == 0, agreement
        assert agreement["weekly_actuals_rows_differing"] == 0, agreement
        assert set(cycle["floor"]["phases"]["dbt"]["parts_s"]) == {"core", "weekly_actuals"}
        assert cycle["stages"]["dbt"]["detail"]["dbt_elapsed_s"] > 0
        # Great Expectations was imported in its worker process, reported by the worker.
        validate = cycle["stages"]["validate"]["detail"]
        assert validate["gx_import_s"] > 0 and validate["gx_import_waited_s"] >= 0
        # Ingest (validation included) is measured against the floor's load + contract rules.
        ingest, phases = cycle["stages"]["ingest"], cycle["floor"]["phases"]
        assert ingest["floor_s"] == round(phases["ingest"]["wall_s"] + phases["validate"]["wall_s"], 3)
        # Publishing reports its parts: the serving file, the Parquet copies, the brief.
        publish = cycle["stages"]["publish"]["detail"]
        assert 0 < publish["publish_tables_s"] <= cycle["stages"]["publish"]["wall_s"]
        assert publish["serving_db_s"] > 0 and publish["parquet_copies_s"] > 0
        assert publish["brief_s"] > 0
        # and the CPU it used, beside what the whole machine was busy with meanwhile
        assert publish["publish_cpu_s"] > 0 and publish["machine_busy_cpu_s"] > 0
        # Its floor writes the same files (Parquet, then the marts in a DuckDB file); the
        # Parquet copies alone are timed beside it.
        floor_publish = cycle["floor"]["phases"]["publish"]
        assert 0 < floor_publish["parquet_only_s"] < floor_publish["wall_s"]
        assert 0 < floor_publish["parquet_only_cpu_s"] <= floor_publish["cpu_s"]
        assert cycle["stages"]["publish"]["ratio_parquet_only"] > 0
    initial, steady = results["cycles"]["initial"], results["cycles"]["steady"]
    # The steady-state week reads only the new week's event files and the new snapshots.
    assert steady["stages"]["ingest"]["rows_in"] < initial["stages"]["ingest"]["rows_in"]
    assert results["landing_files"]["steady"]["pos__daily_sales"] == 7


def test_benchmark_smoke(tmp_path):
    completed = _run(tmp_path, "--smoke")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results = json.loads((tmp_path / "results_smoke.json").read_text())
    _check_results(results)
    output = completed.stdout
    for text in ("initial load (as_of", "steady-state week (as_of", "pipeline/floor",
                 "vs floor", "== smoke:"):
        assert text in output
    # Bulky data is removed unless --keep.
    assert not (tmp_path / "smoke" / "landing").exists()
    assert not (tmp_path / "smoke" / "warehouse.duckdb").exists()


@pytest.mark.slow
def test_benchmark_demo(tmp_path):
    completed = _run(tmp_path, "--tier", "demo")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    _check_results(json.loads((tmp_path / "results_demo.json").read_text()))
