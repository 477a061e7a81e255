-- ERP book vs WMS physical beyond tolerance: one exception per SKU-location, in week 0.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

positions as (
    select * from {{ ref('int_inventory_positions') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

final as (
    select
        'inventory_mismatch' as exception_type,
        positions.sku,
        positions.location_id,
        {{ dbt.concat(['positions.sku', "'@'", 'positions.location_id']) }} as subject_key,
        1 as occurrence,
        0 as first_week_index,
        0 as last_week_index,
        run_context.week0_start as first_week_start,
        run_context.week0_start as last_week_start,
        1 as weeks_affected,
        positions.record_difference_units as exception_units,
        positions.record_difference_units * sku_locations.unit_cost as impact_value,
        'record_tolerance_units' as threshold_name,
        positions.record_tolerance_units as threshold_value,
        positions.book_on_hand_units - positions.physical_on_hand_units as driver_value,
        cast(null as {{ dbt.type_string() }}) as detail
    from positions
    cross join run_context
    inner join sku_locations
        on positions.sku = sku_locations.sku
        and positions.location_id = sku_locations.location_id
    where positions.is_record_mismatch
)

select * from final
