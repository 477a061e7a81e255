-- Incremental: every action each run recommended (as_of x action_id), kept across runs with
-- its weeks as dates, so a planner's decision on an action of an earlier run can be checked
-- and an accepted action carried into later runs' projections. A re-run of an as_of
-- replaces that as_of's rows.
{{ config(materialized='incremental', unique_key='as_of',
          incremental_strategy='delete+insert', on_schema_change='append_new_columns') }}

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
        cast({{ dbt.dateadd('day', '7 * actions.ship_week_index', 'run_context.week0_start') }} as date)
            as ship_week_start,
        cast({{ dbt.dateadd('day', '7 * actions.arrival_week_index', 'run_context.week0_start') }} as date)
            as arrival_week_start,
        actions.resolves_exception_ids
    from actions
    cross join run_context
)

select * from final
