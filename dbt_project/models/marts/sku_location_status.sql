-- BI contract: one row per SKU-location for the as_of: stock (physical, usable, book),
-- safety stock, forward weeks of cover and the first projected stockout week.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

positions as (
    select * from {{ ref('int_inventory_positions') }}
),

cover as (
    select * from {{ ref('int_inventory_cover') }}
),

final as (
    select
        run_context.as_of,
        sku_locations.sku,
        sku_locations.location_id,
        sku_locations.location_type,
        sku_locations.region,
        sku_locations.product_family,
        sku_locations.item_status,
        sku_locations.unit_cost,
        sku_locations.unit_price,
        positions.physical_on_hand_units,
        positions.usable_on_hand_units,
        positions.hold_units,
        positions.expired_units,
        positions.book_on_hand_units,
        positions.record_difference_units,
        positions.is_record_mismatch,
        sku_locations.safety_stock_units,
        sku_locations.lead_time_days,
        sku_locations.transferable,
        cover.horizon_demand_units,
        cover.horizon_receipts_units,
        cover.horizon_demand_units <= 0 as has_no_demand,
        cover.weeks_of_cover,
        cover.min_projected_available_units,
        cover.first_stockout_week_start,
        cover.first_below_safety_stock_week_start,
        positions.usable_on_hand_units * sku_locations.unit_cost as usable_inventory_value
    from sku_locations
    cross join run_context
    inner join positions
        on sku_locations.sku = positions.sku
        and sku_locations.location_id = positions.location_id
    inner join cover
        on sku_locations.sku = cover.sku
        and sku_locations.location_id = cover.location_id
)

select * from final
