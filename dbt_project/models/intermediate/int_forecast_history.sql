-- Every run's forecasts for its sensing weeks, kept across runs so that a later run can score
-- them against what actually sold: the sensed forecast, the committed plan and a
-- seasonal-naive forecast (the same week a year earlier; the last week when there is no year
-- of history). Incremental: a re-run of an as_of replaces that as_of's rows.
{{ config(materialized='incremental', on_schema_change='append_new_columns',
          **incremental_config(unique_key='as_of', partition_by=['as_of'])) }}

with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sensing as (
    select * from {{ ref('int_demand_sensing') }}
),

actuals as (
    select * from {{ ref('int_weekly_actuals') }}
),

history_span as (
    select sku, location_id, min(week_start) as first_week_start, max(week_start) as last_week_start
    from actuals
    group by sku, location_id
),

last_week as (
    select actuals.sku, actuals.location_id, actuals.units
    from actuals
    cross join run_context
    where actuals.week_start = cast({{ dbt.dateadd('day', -7, 'run_context.week0_start') }} as date)
),

final as (
    select
        run_context.as_of,
        run_context.week0_start,
        sensing.sku,
        sensing.location_id,
        sensing.week_index,
        sensing.week_start,
        sensing.sensed_units,
        sensing.plan_units,
        case
            when history_span.first_week_start is null then null
            when history_span.first_week_start <= cast({{ dbt.dateadd('day', -364, 'sensing.week_start') }} as date)
                then coalesce(year_ago.units, 0)
            else coalesce(last_week.units, 0)
        end as seasonal_naive_units
    from sensing
    cross join run_context
    left join history_span
        on sensing.sku = history_span.sku
        and sensing.location_id = history_span.location_id
    left join actuals as year_ago
        on sensing.sku = year_ago.sku
        and sensing.location_id = year_ago.location_id
        and year_ago.week_start = cast({{ dbt.dateadd('day', -364, 'sensing.week_start') }} as date)
    left join last_week
        on sensing.sku = last_week.sku
        and sensing.location_id = last_week.location_id
)

select * from final
