-- Weekly actual demand per managed SKU-location, for the weeks before week 0: POS units sold
-- net of returns at stores, shipped units at distribution centres and plants. Weeks without
-- a row are zero (demand sensing fills them); a week's net can be negative (returns).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

event_totals as (
    select * from {{ ref('int_weekly_event_totals') }}
),

final as (
    select sku_locations.sku, sku_locations.location_id, event_totals.week_start, event_totals.units
    from event_totals
    inner join sku_locations
        on event_totals.sku = sku_locations.sku
        and event_totals.location_id = sku_locations.location_id
        and event_totals.source = if(sku_locations.location_type = 'store', 'pos', 'shipments')
)

select final.*
from final
cross join run_context
where final.week_start < run_context.week0_start
