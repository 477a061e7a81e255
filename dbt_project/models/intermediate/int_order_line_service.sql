-- Service per customer order line (cancelled and zero-unit lines excluded): units shipped by
-- as_of, last delivery, and whether the line was delivered in full and on time, by the week
-- it was due (promised date, else requested date).
with orders as (
    select * from {{ ref('stg_erp__sales_orders') }}
    where status != 'cancelled' and ordered_units > 0
),

shipments as (
    select * from {{ ref('int_order_line_shipments') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

final as (
    select
        orders.order_id,
        orders.order_line,
        orders.sku,
        orders.location_id,
        coalesce(sku_locations.product_family, 'unknown') as product_family,
        orders.ordered_units,
        coalesce(shipments.shipped_units, 0) as shipped_units,
        coalesce(orders.promised_date, orders.requested_date) as due_date,
        cast({{ dbt.date_trunc('week', 'coalesce(orders.promised_date, orders.requested_date)') }} as date)
            as due_week_start,
        shipments.last_delivered_date,
        coalesce(shipments.shipped_units, 0) >= orders.ordered_units as is_in_full,
        coalesce(shipments.is_all_delivered, false)
            and shipments.last_delivered_date <= coalesce(orders.promised_date, orders.requested_date)
            as is_on_time
    from orders
    left join shipments
        on orders.order_id = shipments.order_id
        and orders.order_line = shipments.order_line
    left join sku_locations
        on orders.sku = sku_locations.sku
        and orders.location_id = sku_locations.location_id
)

select * from final
