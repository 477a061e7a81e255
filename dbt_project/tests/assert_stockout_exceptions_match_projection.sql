-- A failure means a projected_stockout exception covers a week whose projected balance is
-- not negative, or a negative week is not covered by any stockout exception.
{{ config(meta={'dagster': {'ref': {'name': 'exceptions'}}}) }}
with projection as (
    select * from {{ ref('sku_location_projection') }}
),

stockouts as (
    select * from {{ ref('exceptions') }}
    where exception_type = 'projected_stockout'
),

covered as (
    select projection.sku, projection.location_id, projection.week_index,
        projection.projected_available_units, stockouts.exception_id
    from projection
    left join stockouts
        on projection.sku = stockouts.sku
        and projection.location_id = stockouts.location_id
        and projection.week_start between stockouts.first_week_start and stockouts.last_week_start
)

select *
from covered
where (exception_id is not null and projected_available_units >= 0)
    or (exception_id is null and projected_available_units < 0)
