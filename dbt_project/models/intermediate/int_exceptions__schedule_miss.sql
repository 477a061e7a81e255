-- Production schedule attainment below the limit for orders due last week (the ISO week
-- before the as_of week), per SKU-location: completed / planned units, cancelled excluded.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

production_orders as (
    select * from {{ ref('stg_erp__production_orders') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

due_last_week as (
    select
        production_orders.sku,
        production_orders.location_id,
        sum(production_orders.planned_units) as planned_units,
        sum(least(production_orders.completed_units, production_orders.planned_units))
            as completed_units
    from production_orders
    cross join run_context
    where production_orders.status != 'cancelled'
        and production_orders.planned_finish_date >= {{ dbt.dateadd('day', -7, 'run_context.week0_start') }}
        and production_orders.planned_finish_date < run_context.week0_start
    group by production_orders.sku, production_orders.location_id
),

final as (
    select
        'schedule_miss' as exception_type,
        due_last_week.sku,
        due_last_week.location_id,
        {{ dbt.concat(['due_last_week.sku', "'@'", 'due_last_week.location_id']) }} as subject_key,
        1 as occurrence,
        0 as first_week_index,
        0 as last_week_index,
        run_context.week0_start as first_week_start,
        run_context.week0_start as last_week_start,
        1 as weeks_affected,
        due_last_week.planned_units - due_last_week.completed_units as exception_units,
        (due_last_week.planned_units - due_last_week.completed_units) * sku_locations.unit_cost
            as impact_value,
        'attainment_limit' as threshold_name,
        run_context.attainment_limit as threshold_value,
        due_last_week.completed_units / due_last_week.planned_units as driver_value,
        {{ dbt.concat([
            "'Built '", format_units('due_last_week.completed_units'), "' of '",
            format_units('due_last_week.planned_units'), "' units due last week ('",
            format_units('100 * due_last_week.completed_units / due_last_week.planned_units'),
            "'% attainment, limit '", format_units('100 * run_context.attainment_limit'), "'%)'"
        ]) }} as detail
    from due_last_week
    cross join run_context
    inner join sku_locations
        on due_last_week.sku = sku_locations.sku
        and due_last_week.location_id = sku_locations.location_id
    where due_last_week.planned_units > 0
        and due_last_week.completed_units / due_last_week.planned_units < run_context.attainment_limit
)

select * from final
