-- The committed plan against what actually sold, per SKU-location and completed week the plan
-- covers (weeks before week 0; a week with no actuals sold 0): the base of plan bias and
-- accuracy checks.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

final as (
    select
        plan.sku,
        plan.location_id,
        plan.week_start,
        {{ dbt.datediff('plan.week_start', 'run_context.week0_start', 'week') }} as weeks_before_week0,
        plan.plan_units,
        coalesce(actuals.units, 0) as actual_units
    from {{ ref('int_committed_plan') }} as plan
    cross join run_context
    left join {{ ref('int_weekly_actuals') }} as actuals
        on plan.sku = actuals.sku
        and plan.location_id = actuals.location_id
        and plan.week_start = actuals.week_start
    where plan.week_start < run_context.week0_start
)

select * from final
