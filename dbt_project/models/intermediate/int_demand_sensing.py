"""Demand sensing: one row per SKU-location and sensing week with the sensed forecast; every
row also says how that SKU-location's forecast was made (soe_pipeline.sensing)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from soe_pipeline.dbt_models import demand_sensing, on_engine

    return on_engine(
        session,
        demand_sensing,
        run_context=dbt.ref("stg_pipeline__run_context"),
        sku_locations=dbt.ref("int_sku_locations"),
        actuals=dbt.ref("int_weekly_actuals"),
        plan=dbt.ref("int_committed_plan"),
    )
