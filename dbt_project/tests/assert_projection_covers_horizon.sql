-- A failure means a SKU-location is missing from the projection or has a week missing or
-- extra: it would be silently left out of exceptions.
{{ config(meta={'dagster': {'ref': {'name': 'sku_location_projection'}}}) }}
with projection as (
    select * from {{ ref('sku_location_projection') }}
),

status as (
    select * from {{ ref('sku_location_status') }}
),

weeks_per_sku_location as (
    select
        status.sku,
        status.location_id,
        count(projection.week_index) as weeks,
        min(projection.week_index) as first_week_index,
        max(projection.week_index) as last_week_index
    from status
    left join projection
        on status.sku = projection.sku
        and status.location_id = projection.location_id
    group by status.sku, status.location_id
)

select *
from weeks_per_sku_location
where weeks != {{ var('horizon_weeks') }}
    or first_week_index != 0
    or last_week_index != {{ var('horizon_weeks') }} - 1
