-- BI contract: one row per recommended action for the as_of: transfers from donors' surplus,
-- expedites of open supply, escalations to S&OP, each with quantity, from / to, the
-- exceptions it resolves and the residual shortage (soe_pipeline.actions).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

actions as (
    select * from {{ ref('int_recommended_actions') }}
),

final as (
    select
        run_context.as_of,
        actions.action_id,
        actions.action_type,
        actions.sku,
        actions.from_location_id,
        actions.to_location_id,
        actions.reference_id,
        actions.units,
        actions.need_week_index,
        cast({{ dbt.dateadd('day', '7 * actions.need_week_index', 'run_context.week0_start') }} as date)
            as need_week_start,
        actions.arrival_week_index,
        cast({{ dbt.dateadd('day', '7 * actions.arrival_week_index', 'run_context.week0_start') }} as date)
            as arrival_week_start,
        actions.ship_week_index,
        cast({{ dbt.dateadd('day', '7 * actions.ship_week_index', 'run_context.week0_start') }} as date)
            as ship_week_start,
        actions.resolves_exception_ids,
        actions.residual_shortage_units,
        actions.impact_value,
        actions.reason
    from actions
    cross join run_context
)

select * from final
