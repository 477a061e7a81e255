-- The SKU-locations S&OE manages (ERP item_locations) with item and location attributes.
with item_locations as (
    select * from {{ ref('stg_erp__item_locations') }}
),

items as (
    select * from {{ ref('stg_erp__items') }}
),

locations as (
    select * from {{ ref('stg_erp__locations') }}
),

final as (
    select
        item_locations.sku,
        item_locations.location_id,
        locations.location_type,
        locations.region,
        items.product_family,
        items.description as item_description,
        items.status as item_status,
        items.shelf_life_days,
        items.unit_cost,
        items.unit_price,
        item_locations.safety_stock_units,
        item_locations.lead_time_days,
        item_locations.transferable
    from item_locations
    left join items on item_locations.sku = items.sku
    left join locations on item_locations.location_id = locations.location_id
)

select * from final
