-- Projection exceptions: each run of consecutive horizon weeks with PAB < 0
-- (projected_stockout) or 0 <= PAB < safety stock (below_safety_stock) is one exception.
with projection as (
    select * from {{ ref('int_projection') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

flagged_weeks as (
    select
        sku,
        location_id,
        week_index,
        week_start,
        projected_available_units,
        safety_stock_units,
        case
            when projected_available_units < 0 then 'projected_stockout'
            when projected_available_units < safety_stock_units then 'below_safety_stock'
        end as exception_type
    from projection
),

-- Gaps and islands: consecutive weeks of one type share week_index - row_number().
islands as (
    select
        flagged_weeks.*,
        flagged_weeks.week_index - row_number() over (
            partition by flagged_weeks.sku, flagged_weeks.location_id, flagged_weeks.exception_type
            order by flagged_weeks.week_index
        ) as island
    from flagged_weeks
    where flagged_weeks.exception_type is not null
),

runs as (
    select
        exception_type,
        sku,
        location_id,
        min(week_index) as first_week_index,
        max(week_index) as last_week_index,
        min(week_start) as first_week_start,
        max(week_start) as last_week_start,
        count(*) as weeks_affected,
        min(projected_available_units) as min_projected_available_units,
        max(safety_stock_units) as safety_stock_units
    from islands
    group by exception_type, sku, location_id, island
),

final as (
    select
        runs.exception_type,
        runs.sku,
        runs.location_id,
        {{ dbt.concat(['runs.sku', "'@'", 'runs.location_id']) }} as subject_key,
        row_number() over (
            partition by runs.exception_type, runs.sku, runs.location_id
            order by runs.first_week_index
        ) as occurrence,
        runs.first_week_index,
        runs.last_week_index,
        runs.first_week_start,
        runs.last_week_start,
        runs.weeks_affected,
        case
            when runs.exception_type = 'projected_stockout'
                then -runs.min_projected_available_units
            else runs.safety_stock_units - runs.min_projected_available_units
        end as exception_units,
        case
            when runs.exception_type = 'projected_stockout'
                then -runs.min_projected_available_units * sku_locations.unit_price
            else (runs.safety_stock_units - runs.min_projected_available_units)
                * sku_locations.unit_cost
        end as impact_value,
        case
            when runs.exception_type = 'projected_stockout' then 'projected_available_units'
            else 'safety_stock_units'
        end as threshold_name,
        case
            when runs.exception_type = 'projected_stockout' then 0
            else runs.safety_stock_units
        end as threshold_value,
        runs.min_projected_available_units as driver_value,
        cast(null as {{ dbt.type_string() }}) as detail
    from runs
    inner join sku_locations
        on runs.sku = sku_locations.sku
        and runs.location_id = sku_locations.location_id
)

select * from final
