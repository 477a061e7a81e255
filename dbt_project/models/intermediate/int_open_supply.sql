-- Open supply lines into each SKU-location, one row per PO line, in-transit transfer or
-- production order, with the horizon week they land in (past due lands in week 0).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

purchase_orders as (
    select
        'purchase_order' as supply_type,
        {{ dbt.concat(['po_id', "'/'", 'cast(po_line as ' ~ dbt.type_string() ~ ')']) }}
            as reference_id,
        sku,
        location_id,
        supplier_id as counterpart_id,
        greatest(ordered_units - received_units, 0) as open_units,
        original_due_date,
        current_due_date as due_date
    from {{ ref('stg_erp__purchase_orders') }}
    where status = 'open'
),

transfers as (
    select
        'transfer' as supply_type,
        transfer_id as reference_id,
        sku,
        to_location_id as location_id,
        from_location_id as counterpart_id,
        units as open_units,
        expected_arrival_date as original_due_date,
        expected_arrival_date as due_date
    from {{ ref('stg_wms__transfers') }}
    where status = 'in_transit'
),

production_orders as (
    select
        'production_order' as supply_type,
        production_order_id as reference_id,
        sku,
        location_id,
        cast(null as {{ dbt.type_string() }}) as counterpart_id,
        greatest(planned_units - completed_units, 0) as open_units,
        planned_finish_date as original_due_date,
        planned_finish_date as due_date
    from {{ ref('stg_erp__production_orders') }}
    where status in ('released', 'in_progress')
),

supply_lines as (
    select * from purchase_orders
    union all
    select * from transfers
    union all
    select * from production_orders
),

final as (
    select
        supply_lines.*,
        {{ horizon_week_index('supply_lines.due_date', 'run_context.week0_start') }} as week_index,
        supply_lines.due_date < run_context.as_of as is_past_due,
        {{ dbt.datediff('supply_lines.original_due_date', 'supply_lines.due_date', 'day') }}
            as days_slipped
    from supply_lines
    cross join run_context
    where supply_lines.open_units > 0
)

select * from final
