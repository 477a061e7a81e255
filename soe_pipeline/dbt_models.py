"""The bodies of the dbt Python models (dbt_project/models/**/*.py).

dbt-duckdb runs Python models inside `dbt build`, on the build's own DuckDB connection, so
demand sensing and recommended actions sit in the same lineage as the SQL models around them
without a second dbt invocation. The model files only call these functions; the logic lives
in soe_pipeline.sensing and soe_pipeline.actions, which know nothing about dbt.
"""

from __future__ import annotations

import duckdb
import pandas as pd

SERIES_KEY = ["sku", "location_id"]


def demand_sensing(
    run_context: duckdb.DuckDBPyRelation,
    sku_locations: duckdb.DuckDBPyRelation,
    actuals: duckdb.DuckDBPyRelation,
    plan: duckdb.DuckDBPyRelation,
) -> pd.DataFrame:
    """One row per SKU-location x sensing week: the sensed forecast, and on every row the
    method, parameters and explanation of that SKU-location's forecast."""
    from soe_pipeline.sensing import SensingSettings, sense

    run_context = run_context.df().iloc[0]
    # DuckDB numbers the SKU-locations and puts that number on the ~10 M weekly actual rows,
    # so pandas never holds their key strings (seconds and gigabytes at 100,000 series).
    # (sku, location_id) is unique in int_sku_locations (its dbt test), so every query
    # below numbers them alike, and `series` in that order puts each at its number.
    numbered = sku_locations.select(
        "row_number() over (order by sku, location_id) - 1 as series_row,"
        " sku, location_id, product_family, region"
    )
    series_rows = numbered.select("series_row", "sku", "location_id")
    series = numbered.order("series_row").df().drop(columns="series_row")
    actuals = actuals.join(series_rows, SERIES_KEY).select("series_row", "week_start", "units")
    plan = plan.join(series_rows, SERIES_KEY).select("series_row", "week_start", "plan_units")
    settings = SensingSettings(
        horizon_weeks=max(1, int(run_context["sensing_weeks"])),
        gate_z_low=float(run_context["sensing_gate_z_low"]),
        gate_z_high=float(run_context["sensing_gate_z_high"]),
    )
    week0_start = pd.Timestamp(run_context["week0_start"]).date()
    result = sense(actuals.df(), series, plan.df(), week0_start, settings)

    # The series already name their season model; the group adds its parameters.
    groups = result.groups.drop(columns="model")
    group_columns = [c for c in groups.columns if c not in ("product_family", "region")]
    groups = groups.rename(columns={c: f"season_{c}" for c in group_columns})
    described = (
        result.series.merge(series, on=SERIES_KEY, how="left")
        .merge(groups, on=["product_family", "region"], how="left")
        .drop(columns=["product_family", "region"])
    )
    out = result.forecast.merge(described, on=SERIES_KEY, how="left", validate="many_to_one")
    out["window_weeks"] = settings.window_weeks
    out.insert(0, "as_of", pd.Timestamp(run_context["as_of"]).date())
    return out.sort_values([*SERIES_KEY, "week_index"], ignore_index=True)


def action_plan(
    run_context: pd.DataFrame,
    projection: pd.DataFrame,
    sku_locations: pd.DataFrame,
    open_supply: pd.DataFrame,
    shortages: pd.DataFrame,
) -> pd.DataFrame:
    """Coordinated transfers, expedites and escalations for this run's shortages, and what
    they do for each shortage exception, as one table (a dbt model returns one): the rows
    of `ActionPlan.actions` (plan_part 'action') then of `ActionPlan.exceptions` ('exception'),
    every column nullable and typed, null where a part does not have it."""
    from soe_pipeline.actions import ActionSettings, recommend_actions

    run_context = run_context.iloc[0]
    settings = ActionSettings(
        time_fence_weeks=int(run_context["time_fence_weeks"]),
        escalation_impact=float(run_context["escalation_impact"]),
    )
    offset = (pd.Timestamp(run_context["as_of"]) - pd.Timestamp(run_context["week0_start"])).days
    projection = projection[
        [*SERIES_KEY, "week_index", "week_start", "projected_available_units", "safety_stock_units"]
    ]
    sku_locations = sku_locations[
        [*SERIES_KEY, "lead_time_days", "transferable", "unit_price", "unit_cost"]
    ]
    open_supply = open_supply[
        ["reference_id", "supply_type", *SERIES_KEY, "week_index", "open_units"]
    ]
    plan = recommend_actions(projection, sku_locations, open_supply, shortages, offset, settings)
    nullable = {"int64": "Int64", "float64": "Float64", "bool": "boolean"}
    parts = {"action": plan.actions, "exception": plan.exceptions}
    return pd.concat(
        [
            part.astype({c: nullable.get(str(t), t) for c, t in part.dtypes.items()})
            .assign(plan_part=name)
            for name, part in parts.items()
        ],
        ignore_index=True,
    )
