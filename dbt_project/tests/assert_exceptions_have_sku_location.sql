-- A failure means an exception points at a SKU-location that sku_location_status does not
-- know: BI could not drill into it.
{{ config(meta={'dagster': {'ref': {'name': 'exceptions'}}}) }}
select exceptions.*
from {{ ref('exceptions') }} as exceptions
left join {{ ref('sku_location_status') }} as status
    on exceptions.sku = status.sku
    and exceptions.location_id = status.location_id
where status.sku is null
    and exceptions.exception_type != 'stale_data'
