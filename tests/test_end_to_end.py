"""A generated scenario through the whole Dagster graph: the planted disruptions come out as
exceptions, healthy SKU-locations stay quiet, and dbt agrees with an independent oracle."""

import datetime as dt

import pandas as pd
import pytest
from conftest import query
from oracle import run_oracle

from soe_pipeline.simulate import generate

AS_OF = dt.date(2026, 3, 11)
# Every type the pipeline raises so far (demand_shift arrives with demand sensing).
CHECKED_TYPES = ("projected_stockout", "below_safety_stock", "inventory_mismatch", "excess_inventory",
                 "expiry_risk", "late_supply", "schedule_miss")


@pytest.fixture(scope="module")
def scenario_run(tmp_path_factory):
    from soe_pipeline.runner import run_weekly_cycle

    root = tmp_path_factory.mktemp("scenario")
    generated = generate(root, scale="demo", seed=7, as_of=AS_OF, n_skus=60, history_weeks=10)
    outcome = run_weekly_cycle(
        landing=generated.landing_dir, warehouse=root / "wh.duckdb", exports=root / "exports",
        as_of=AS_OF, progress=False,
    )
    assert outcome.success, outcome.errors
    return generated, outcome


def _exceptions(outcome) -> pd.DataFrame:
    rows = query(outcome.warehouse, "select exception_type, sku, location_id, first_week_start "
                 "from marts.exceptions where list_contains(?, exception_type)", [list(CHECKED_TYPES)])
    return pd.DataFrame(rows, columns=["exception_type", "sku", "location_id", "first_week_start"])


def test_every_planted_disruption_is_found_as_its_exceptions(scenario_run):
    generated, outcome = scenario_run
    truth = pd.read_csv(generated.ground_truth_path, dtype=str, keep_default_na=False)
    expected = truth[truth["exception_type"].isin(CHECKED_TYPES)]
    assert set(expected["exception_type"]) == set(CHECKED_TYPES) and len(expected) >= 21
    found = _exceptions(outcome)
    found_keys = {(r.exception_type, r.sku, r.location_id): r.first_week_start for r in found.itertuples()}
    missing = []
    for row in expected.itertuples():
        key = (row.exception_type, row.sku, row.location_id)
        if key not in found_keys:
            missing.append(key)
        elif row.first_week_start and found_keys[key] != dt.date.fromisoformat(row.first_week_start):
            missing.append((*key, "week", row.first_week_start, found_keys[key]))
    assert not missing


def test_healthy_sku_locations_raise_none_and_nothing_unexplained_is_raised(scenario_run):
    generated, outcome = scenario_run
    truth = pd.read_csv(generated.ground_truth_path, dtype=str, keep_default_na=False)
    touched = pd.read_csv(generated.disruptions_path, dtype=str)
    touched_keys = set(zip(touched["sku"], touched["location_id"], strict=True))
    found = _exceptions(outcome)
    at_healthy = [r for r in found.itertuples() if (r.sku, r.location_id) not in touched_keys]
    assert at_healthy == []
    explained = set(zip(truth["exception_type"], truth["sku"], truth["location_id"], strict=True))
    unexplained = [r for r in found.itertuples() if (r.exception_type, r.sku, r.location_id) not in explained]
    assert unexplained == []
    (healthy_count,) = query(outcome.warehouse, "select count(*) from marts.sku_location_status")[0]
    assert healthy_count - len(touched_keys) > 400


def test_dbt_projection_matches_the_independent_oracle(scenario_run):
    generated, outcome = scenario_run
    oracle = run_oracle(generated.landing_dir, AS_OF).projection
    rows = query(outcome.warehouse, "select sku, location_id, week_index, demand_units, receipts_units, "
                 "projected_available_units from marts.sku_location_projection")
    dbt = pd.DataFrame(rows, columns=["sku", "location_id", "week_index", "demand_units",
                                      "receipts_units", "projected_available_units"])
    merged = dbt.merge(oracle, on=["sku", "location_id", "week_index"], suffixes=("", "_oracle"),
                       validate="one_to_one")
    assert len(merged) == len(dbt) == len(oracle)
    for column in ("demand_units", "receipts_units", "projected_available_units"):
        assert (merged[column] - merged[f"{column}_oracle"]).abs().max() < 1e-6, column
