-- A failure means open orders were added to the forecast instead of consuming it
-- (demand must be max(forecast, open orders), plus transfers out that a planner accepted).
{{ config(meta={'dagster': {'ref': {'name': 'sku_location_projection'}}}) }}
select *
from {{ ref('sku_location_projection') }}
where demand_units != greatest(forecast_units, open_order_units) + accepted_transfer_out_units
