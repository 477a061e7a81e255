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


def on_engine(session, function, **relations):
    """`function(**relations)` as the dbt Python model of either engine returns it.

    On DuckDB, `relations` are relations of the build's connection. On Spark
    (soe_pipeline.spark_engine runs the model in dbt's process), they are Spark DataFrames:
    each is written as Parquet to a scratch folder in the run's Spark folder and read by an
    in-memory DuckDB, so the same function computes the same rows, reading its inputs as it
    does on DuckDB (demand sensing one batch of groups at a time) instead of collecting them
    on the driver; the rows go back as a Spark DataFrame."""
    if all(isinstance(r, duckdb.DuckDBPyRelation) for r in relations.values()):
        return function(**relations)
    import os
    import shutil
    import tempfile
    from pathlib import Path

    from soe_pipeline.engines import SPARK_FOLDER_ENV

    scratch = Path(os.environ.get(SPARK_FOLDER_ENV) or tempfile.gettempdir()) / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="python_model_", dir=scratch))
    local = duckdb.connect()
    try:
        local_relations = {}
        for name, frame in relations.items():
            frame.write.parquet(str(folder / name))
            files = sorted((folder / name).glob("*.parquet"))
            local_relations[name] = (
                local.read_parquet([str(f) for f in files])
                if files
                else local.from_arrow(frame.toArrow())  # Spark writes no file for no rows
            )
        result = function(**local_relations)
        return session.createDataFrame(local.from_df(result).to_arrow_table())
    finally:
        local.close()
        shutil.rmtree(folder, ignore_errors=True)


# SKU-locations sensed at a time. At the large tier (two years of weekly actuals) a batch of
# ~220,000 series peaks at 4.0 GiB, all 1,000,000 in one go at 11.0 GiB; at 25,000 to
# 250,000 series a batch, medium takes the same time. Whole product family x region groups
# go together (a group's shape is fitted on all its series), so results are identical
# whatever the batch size (tests/test_sensing.py).
SENSING_BATCH_SERIES = 250_000
GROUP_JUDGEMENTS = (
    "shape_kept",
    "plan_kept",
    "backtest_model_score",
    "backtest_plan_score",
    "backtest_plan_series",
    "backtest_model_series",
)


def demand_sensing(
    run_context: duckdb.DuckDBPyRelation,
    sku_locations: duckdb.DuckDBPyRelation,
    actuals: duckdb.DuckDBPyRelation,
    plan: duckdb.DuckDBPyRelation,
    batch_series: int = SENSING_BATCH_SERIES,
) -> pd.DataFrame:
    """One row per SKU-location x sensing week: the sensed forecast, and on every row the
    method, parameters and explanation of that SKU-location's forecast."""
    from soe_pipeline.sensing import SensingSettings, sense_batches

    run_context = run_context.df().iloc[0]
    week0_start = pd.Timestamp(run_context["week0_start"]).date()
    settings = SensingSettings(
        horizon_weeks=max(1, int(run_context["sensing_weeks"])),
        gate_z_low=float(run_context["sensing_gate_z_low"]),
        gate_z_high=float(run_context["sensing_gate_z_high"]),
    )
    # DuckDB numbers the SKU-locations and weeks and puts those numbers on the ~10 M weekly
    # actual rows, so pandas never holds their key strings or dates (seconds and gigabytes
    # at 100,000 series).
    week_index = f"cast(floor((week_start - date '{week0_start}') / 7) as integer) as week_index"
    actuals = actuals.select(f"sku, location_id, {week_index}, units")
    plan = plan.select(f"sku, location_id, {week_index}, plan_units")
    grouped = sku_locations.select(
        "sku, location_id, product_family, region,"
        " dense_rank() over (order by product_family, region) as group_number"
    )
    groups_of_series = {}

    def reader(first: int, last: int):
        def read() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
            # (sku, location_id) is unique in int_sku_locations (its dbt test), so the
            # queries below number a batch's SKU-locations alike, and `series` in that order
            # puts each at its number.
            numbered = grouped.filter(f"group_number between {first} and {last}").select(
                "cast(row_number() over (order by sku, location_id) - 1 as integer) as series_row,"
                " sku, location_id, product_family, region"
            )
            series_rows = numbered.select("series_row", "sku", "location_id")
            series = numbered.order("series_row").df().drop(columns="series_row")
            groups_of_series[first] = series
            batch_actuals = actuals.join(series_rows, SERIES_KEY).select(
                "series_row, week_index, units"
            )
            batch_plan = plan.join(series_rows, SERIES_KEY).select(
                "series_row, week_index, plan_units"
            )
            return batch_actuals.df(), series, batch_plan.df()

        return read

    batches = [reader(first, last) for first, last in _group_batches(grouped, batch_series)]
    result = sense_batches(batches, week0_start, settings)

    # The series already name their season model; the group adds its parameters and what
    # the backtest decided for the group (family shape kept? plan kept?).
    groups = result.groups.drop(columns="model")
    judgements = {c: f"family_{c}" for c in GROUP_JUDGEMENTS}
    group_columns = [
        c for c in groups.columns if c not in ("product_family", "region", *GROUP_JUDGEMENTS)
    ]
    groups = groups.rename(columns={**{c: f"season_{c}" for c in group_columns}, **judgements})
    described = (
        result.series.merge(pd.concat(groups_of_series.values()), on=SERIES_KEY, how="left")
        .merge(groups, on=["product_family", "region"], how="left")
        .drop(columns=["product_family", "region"])
    )
    out = result.forecast.merge(described, on=SERIES_KEY, how="left", validate="many_to_one")
    out["window_weeks"] = settings.window_weeks
    out.insert(0, "as_of", pd.Timestamp(run_context["as_of"]).date())
    return out.sort_values([*SERIES_KEY, "week_index"], ignore_index=True)


def _group_batches(grouped: duckdb.DuckDBPyRelation, batch_series: int) -> list[tuple[int, int]]:
    """Consecutive runs of group numbers (first, last) of at most `batch_series` SKU-locations
    each; a larger group is a batch of its own. Without any SKU-location, one empty batch
    (group numbers start at 1), so the table still gets its columns."""
    batches: list[tuple[int, int]] = []
    sizes = grouped.aggregate("group_number, count(*)").order("group_number").fetchall()
    first, size = None, 0
    for group, count in sizes:
        if first is not None and size + count > batch_series:
            batches.append((first, group - 1))
            first, size = None, 0
        first = group if first is None else first
        size += count
    if first is not None:
        batches.append((first, group))
    return batches or [(0, 0)]


def action_plan(
    run_context: duckdb.DuckDBPyRelation,
    projection: duckdb.DuckDBPyRelation,
    sku_locations: duckdb.DuckDBPyRelation,
    open_supply: duckdb.DuckDBPyRelation,
    shortages: duckdb.DuckDBPyRelation,
    lanes: duckdb.DuckDBPyRelation,
    transfers: duckdb.DuckDBPyRelation,
    demand_shifts: duckdb.DuckDBPyRelation,
    rejected: duckdb.DuckDBPyRelation,
) -> pd.DataFrame:
    """Coordinated transfers, expedites and escalations for this run's shortages, and what
    they do for each shortage exception, as one table (a dbt model returns one): the rows
    of `ActionPlan.actions` (plan_part 'action') then of `ActionPlan.exceptions` ('exception'),
    every column nullable and typed, null where a part does not have it.

    Only the columns the plan uses reach pandas: at medium the projection has 1.3 M rows of
    17 columns; its 6 used columns arrive in 0.8 s, the five whole inputs took 2.6 s."""
    from soe_pipeline.actions import ActionSettings, recommend_actions
    from soe_pipeline.lanes import lanes_from_rows

    def columns(relation: duckdb.DuckDBPyRelation, names: list[str]) -> pd.DataFrame:
        return relation.project(", ".join(names)).df()

    run_context = run_context.df().iloc[0]
    settings = ActionSettings(
        time_fence_weeks=int(run_context["time_fence_weeks"]),
        escalation_impact=float(run_context["escalation_impact"]),
        escalate_covered_impact=bool(run_context["escalate_covered_impact"]),
        max_donors=int(run_context["transfer_max_donors"]),
        transfer_horizon_weeks=int(run_context["transfer_horizon_weeks"]),
        sensing_weeks=int(run_context["sensing_weeks"]),
        sensing_down_ratio=float(run_context["sensing_down_ratio"]),
    )
    offset = (pd.Timestamp(run_context["as_of"]) - pd.Timestamp(run_context["week0_start"])).days
    projection = columns(
        projection,
        [
            *SERIES_KEY,
            "week_index",
            "week_start",
            "projected_available_units",
            "safety_stock_units",
            "plan_units",
            "sensed_units",
        ],
    )
    sku_locations = columns(
        sku_locations,
        [
            *SERIES_KEY,
            "location_type",
            "region",
            "lead_time_days",
            "transferable",
            "unit_price",
            "unit_cost",
        ],
    )
    open_supply = columns(
        open_supply,
        ["reference_id", "supply_type", *SERIES_KEY, "counterpart_id", "week_index", "open_units"],
    )
    # Transfers on their way, and those planners accepted (firm), are never reversed.
    in_transit = pd.concat([
        transfers.filter("status = 'in_transit'").project("sku, from_location_id, to_location_id").df(),
        open_supply.loc[open_supply["supply_type"] == "accepted_transfer"].rename(
            columns={"counterpart_id": "from_location_id", "location_id": "to_location_id"}
        )[["sku", "from_location_id", "to_location_id"]],
    ], ignore_index=True)
    down_shifted = demand_shifts.filter("driver_value < 0").project("sku, location_id").df()
    shortages = shortages.df()
    plan = recommend_actions(
        projection,
        sku_locations,
        open_supply,
        shortages,
        offset,
        settings,
        lanes=lanes_from_rows(lanes.df().to_dict("records")),
        in_transit=in_transit,
        down_shifted=down_shifted,
        rejected=rejected.project("exception_id, action_id").df(),
    )
    nullable = {"int64": "Int64", "float64": "Float64", "bool": "boolean"}
    parts = {"action": plan.actions, "exception": plan.exceptions}
    return pd.concat(
        [
            part.astype({c: nullable.get(str(t), t) for c, t in part.dtypes.items()}).assign(
                plan_part=name
            )
            for name, part in parts.items()
        ],
        ignore_index=True,
    )
