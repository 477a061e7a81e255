-- Open customer order lines with what is still to ship, by the week they are due
-- (promised date, else requested date; past due lands in week 0).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

orders as (
    select * from {{ ref('stg_erp__sales_orders') }}
    where status = 'open'
),

shipped as (
    select * from {{ ref('int_order_line_shipments') }}
),

final as (
    select
        orders.order_id,
        orders.order_line,
        orders.customer_id,
        orders.sku,
        orders.location_id,
        orders.ordered_units,
        coalesce(shipped.shipped_units, 0) as shipped_units,
        greatest(orders.ordered_units - coalesce(shipped.shipped_units, 0), 0) as open_units,
        coalesce(orders.promised_date, orders.requested_date) as due_date,
        {{ horizon_week_index('coalesce(orders.promised_date, orders.requested_date)',
                              'run_context.week0_start') }} as week_index,
        coalesce(orders.promised_date, orders.requested_date) < run_context.as_of as is_past_due
    from orders
    cross join run_context
    left join shipped
        on orders.order_id = shipped.order_id
        and orders.order_line = shipped.order_line
)

select * from final
