-- Weekly actual demand per managed SKU-location, for the weeks before week 0: POS units sold
-- net of returns at stores, shipped units at distribution centres and plants. Weeks without
-- a row are zero (demand sensing fills them); a week's net can be negative (returns).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

pos as (
    select
        sku,
        location_id,
        cast({{ dbt.date_trunc('week', 'business_date') }} as date) as week_start,
        sum(units_sold) as units
    from {{ ref('stg_pos__daily_sales') }}
    group by all
),

shipments as (
    select
        sku,
        location_id,
        cast({{ dbt.date_trunc('week', 'ship_date') }} as date) as week_start,
        sum(shipped_units) as units
    from {{ ref('stg_wms__shipments') }}
    group by all
),

final as (
    select sku_locations.sku, sku_locations.location_id, pos.week_start, pos.units
    from pos
    inner join sku_locations
        on pos.sku = sku_locations.sku
        and pos.location_id = sku_locations.location_id
    where sku_locations.location_type = 'store'
    union all
    select sku_locations.sku, sku_locations.location_id, shipments.week_start, shipments.units
    from shipments
    inner join sku_locations
        on shipments.sku = sku_locations.sku
        and shipments.location_id = sku_locations.location_id
    where sku_locations.location_type <> 'store'
)

select final.*
from final
cross join run_context
where final.week_start < run_context.week0_start
