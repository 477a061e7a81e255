"""What the recommended actions do for each shortage exception: covered and residual units,
escalation to S&OP and the action line shown to planners (soe_pipeline.actions)."""


def model(dbt, session):
    dbt.config(materialized="table")
    from soe_pipeline.dbt_models import action_plan

    return action_plan(
        run_context=dbt.ref("stg_pipeline__run_context").df(),
        projection=dbt.ref("int_projection").df(),
        sku_locations=dbt.ref("int_sku_locations").df(),
        open_supply=dbt.ref("int_open_supply").df(),
        shortages=dbt.ref("int_shortages").df(),
    ).exceptions
