"""The coordinated action plan for this run's shortages (soe_pipeline.actions), computed once:
the recommended actions (plan_part 'action') and what they do for each shortage exception
(plan_part 'exception') in one table, split by int_recommended_actions and
int_exception_actions."""


def model(dbt, session):
    dbt.config(materialized="table")
    from soe_pipeline.dbt_models import action_plan, on_engine

    return on_engine(
        session,
        action_plan,
        run_context=dbt.ref("stg_pipeline__run_context"),
        projection=dbt.ref("int_projection"),
        sku_locations=dbt.ref("int_sku_locations"),
        open_supply=dbt.ref("int_open_supply"),
        shortages=dbt.ref("int_shortages"),
        lanes=dbt.source("pipeline", "transfer_lanes"),
        transfers=dbt.ref("stg_wms__transfers"),
        demand_shifts=dbt.ref("int_exceptions__demand_shift"),
        rejected=dbt.ref("int_rejected_actions"),
    )
