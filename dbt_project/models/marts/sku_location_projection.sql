-- BI contract: one row per SKU-location and horizon week (0-12) for the as_of.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

projection as (
    select * from {{ ref('int_projection') }}
),

final as (
    select
        run_context.as_of,
        projection.sku,
        projection.location_id,
        projection.week_index,
        projection.week_start,
        projection.plan_units,
        projection.sensed_units,
        projection.forecast_units,
        projection.open_order_units,
        projection.demand_units,
        projection.receipts_units,
        projection.purchase_order_units,
        projection.transfer_units,
        projection.production_units,
        projection.accepted_transfer_in_units,
        projection.accepted_transfer_out_units,
        projection.opening_available_units,
        projection.projected_available_units,
        projection.safety_stock_units,
        projection.projected_available_units < 0 as is_stockout,
        projection.projected_available_units >= 0
            and projection.projected_available_units < projection.safety_stock_units
            as is_below_safety_stock
    from projection
    cross join run_context
)

select * from final
