-- The committed S&OP plan: the version with the latest committed_at in the newest plan file.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

plan as (
    select * from {{ ref('stg_erp__sop_plan') }}
),

committed_version as (
    select plan.plan_version
    from plan
    cross join run_context
    where plan.committed_at < run_context.files_visible_before
    order by plan.committed_at desc, plan.plan_version desc
    limit 1
),

final as (
    select
        plan.plan_version,
        plan.committed_at,
        plan.sku,
        plan.location_id,
        plan.week_start,
        plan.demand_units as plan_units
    from plan
    where plan.plan_version in (select plan_version from committed_version)
)

select * from final
