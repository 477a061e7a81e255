-- Usable stock covering more weeks of demand than the excess threshold: the units beyond
-- threshold x average weekly demand are excess. SKU-locations without demand are not
-- judged here (weeks of cover is null, not infinite).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

cover as (
    select * from {{ ref('int_inventory_cover') }}
),

positions as (
    select * from {{ ref('int_inventory_positions') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

status as (
    select
        cover.*,
        positions.usable_on_hand_units,
        sku_locations.unit_cost
    from cover
    inner join positions
        on cover.sku = positions.sku
        and cover.location_id = positions.location_id
    inner join sku_locations
        on cover.sku = sku_locations.sku
        and cover.location_id = sku_locations.location_id
),

final as (
    select
        'excess_inventory' as exception_type,
        status.sku,
        status.location_id,
        {{ dbt.concat(['status.sku', "'@'", 'status.location_id']) }} as subject_key,
        1 as occurrence,
        0 as first_week_index,
        0 as last_week_index,
        run_context.week0_start as first_week_start,
        run_context.week0_start as last_week_start,
        1 as weeks_affected,
        status.usable_on_hand_units - run_context.excess_cover_weeks
            * status.horizon_demand_units / {{ var('horizon_weeks') }} as exception_units,
        (status.usable_on_hand_units - run_context.excess_cover_weeks
            * status.horizon_demand_units / {{ var('horizon_weeks') }}) * status.unit_cost
            as impact_value,
        'excess_cover_weeks' as threshold_name,
        run_context.excess_cover_weeks as threshold_value,
        status.weeks_of_cover as driver_value,
        {{ dbt.concat([
            "'Usable stock covers '", format_units('status.weeks_of_cover'),
            "' weeks of demand (threshold '", format_units('run_context.excess_cover_weeks'), "')'"
        ]) }} as detail
    from status
    cross join run_context
    where status.weeks_of_cover > run_context.excess_cover_weeks
)

select * from final
