-- A failure means the projection broke PAB_w = PAB_(w-1) + receipts_w - demand_w (with
-- PAB_(-1) = usable on-hand): every number downstream would be wrong.
{{ config(meta={'dagster': {'ref': {'name': 'sku_location_projection'}}}) }}
with projection as (
    select * from {{ ref('sku_location_projection') }}
),

status as (
    select * from {{ ref('sku_location_status') }}
),

expected as (
    select
        projection.sku,
        projection.location_id,
        projection.week_index,
        projection.projected_available_units,
        coalesce(
            lag(projection.projected_available_units) over (
                partition by projection.sku, projection.location_id order by projection.week_index
            ),
            status.usable_on_hand_units
        ) + projection.receipts_units - projection.demand_units as expected_units
    from projection
    inner join status
        on projection.sku = status.sku
        and projection.location_id = status.location_id
)

select *
from expected
where abs(projected_available_units - expected_units) > 1e-6
