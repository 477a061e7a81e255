"""The Dagster definitions the UI loads: they validate, and lineage runs from landing to BI."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from soe_pipeline.contracts import load_contracts

REPO = Path(__file__).resolve().parents[1]


def test_dagster_definitions_validate(tmp_path):
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_lineage_runs_from_each_extract_to_the_published_exports():
    from soe_pipeline.definitions import defs

    graph = defs().resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    for contract in load_contracts():
        extract = dg.AssetKey([contract.system, contract.extract])
        staging = dg.AssetKey(["staging", f"stg_{contract.name}"])
        assert extract in keys
        assert graph.get(extract).group_name == contract.system
        assert extract in graph.get(staging).parent_keys, contract.name
    published = graph.get(dg.AssetKey(["publish", "bi_exports"]))
    assert {k.path[-1] for k in published.parent_keys} == {
        "data_health", "demand_sensing", "exception_history", "exceptions", "forecast_accuracy",
        "kpi_weekly", "recommended_actions", "sku_location_projection", "sku_location_status",
        "sop_feedback",
    }
    assert dg.AssetKey(["pipeline", "run_context"]) in graph.get(
        dg.AssetKey(["staging", "stg_pipeline__run_context"])
    ).parent_keys


def test_generated_dbt_staging_layer_is_in_sync_with_contracts():
    from soe_pipeline.dbt_codegen import render

    stale = [str(p) for p, content in render().items() if not p.exists() or p.read_text() != content]
    assert not stale, f"run `python -m soe_pipeline.dbt_codegen`; stale: {stale}"
