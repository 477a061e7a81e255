-- Shipments against each customer order line of the current sales-order snapshot, shipped by
-- as_of: units, last delivery, and whether every shipment was delivered. Only shipments that
-- ever referenced one of those lines are de-duplicated to their newest version (a later file
-- corrects an earlier one), not the whole shipment history; a correction that moved one to
-- another line is followed.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

order_lines as (
    select distinct order_id, order_line
    from {{ ref('stg_erp__sales_orders') }}
),

-- The order id range lets DuckDB skip the row groups of older orders' shipments.
shipments_of_lines as (
    select shipment_id
    from {{ source('wms', 'shipments') }}
    where order_id between (select min(order_id) from order_lines) and (select max(order_id) from order_lines)
        and (order_id, order_line) in (select order_id, order_line from order_lines)
),

shipments as (
    {{ latest_events(source('wms', 'shipments'), ['shipment_id'],
                     where='shipment_id in (select shipment_id from shipments_of_lines)') }}
),

final as (
    select
        shipments.order_id,
        shipments.order_line,
        sum(shipments.shipped_units) as shipped_units,
        max(shipments.delivered_date) as last_delivered_date,
        bool_and(shipments.delivered_date is not null) as is_all_delivered
    from shipments
    cross join run_context
    where shipments.ship_date <= run_context.as_of
        and (shipments.order_id, shipments.order_line) in (select order_id, order_line from order_lines)
    group by shipments.order_id, shipments.order_line
)

select * from final
