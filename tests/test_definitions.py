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
        "decision_log", "kpi_weekly", "recommended_actions", "sku_location_projection", "sku_location_status",
        "sop_feedback",
    }
    assert dg.AssetKey(["pipeline", "run_context"]) in graph.get(
        dg.AssetKey(["staging", "stg_pipeline__run_context"])
    ).parent_keys


def test_generated_dbt_staging_layer_is_in_sync_with_contracts():
    from soe_pipeline.dbt_codegen import render

    stale = [str(p) for p, content in render().items() if not p.exists() or p.read_text() != content]
    assert not stale, f"run `python -m soe_pipeline.dbt_codegen`; stale: {stale}"


def test_the_ui_takes_its_paths_and_mappings_from_the_config_named_by_soe_config(tmp_path):
    # `SOE_CONFIG=soe.yml make ui`: the definitions load with the config's paths as defaults.
    config = tmp_path / "soe.yml"
    config.write_text("landing: in\nwarehouse: out/wh.duckdb\nexports: out/exports\n"
                      "extracts: {wms/receipts: {freshness: {warn_after_days: 2, error_after_days: 5}}}\n")
    dagster = Path(sys.executable).parent / "dagster"
    script = (
        "from soe_pipeline.defs.resources import resources; "
        "r = resources().resources; "
        "print(r['landing'].path, r['warehouse'].database, r['exports'].path, "
        "r['deployment'].load().freshness_overrides())"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True,
                            timeout=300, env={**os.environ, "SOE_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split(" ", 3) == [
        str(tmp_path / "in"), str(tmp_path / "out/wh.duckdb"), str(tmp_path / "out/exports"),
        "{'wms__receipts': (2, 5)}\n"]
    assert dagster.exists()
