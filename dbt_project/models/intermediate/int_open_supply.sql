-- Open supply lines into each SKU-location, one row per PO line, in-transit transfer or
-- production order, with the horizon week they land in (past due lands in week 0). Planners'
-- accepted actions still pending (int_accepted_actions) are firm: an accepted transfer is
-- supply at its destination in its arrival week (its donor's side is demand, in
-- int_projection); an accepted expedite moves the units it pulls of a PO line or production
-- order to the accepted week (reference_id suffixed '#expedited'), the rest stays where it was.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

-- Due in the accepted week: its Monday, or as_of when that Monday has passed (the week is
-- the same, and a pending action is not past due).
pending_actions as (
    select
        accepted.*,
        greatest(accepted.arrival_week_start, run_context.as_of) as accepted_due_date
    from {{ ref('int_accepted_actions') }} as accepted
    inner join run_context on accepted.as_of = run_context.as_of
    where accepted.action_state = 'pending'
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

accepted_transfers as (
    select
        'accepted_transfer' as supply_type,
        action_id as reference_id,
        sku,
        to_location_id as location_id,
        from_location_id as counterpart_id,
        cast(units as double) as open_units,
        accepted_due_date as original_due_date,
        accepted_due_date as due_date
    from pending_actions
    where action_type = 'transfer'
),

orders as (
    select * from purchase_orders
    union all
    select * from production_orders
),

expedites as (
    select reference_id, sku, to_location_id as location_id, units, arrival_week_start,
        accepted_due_date
    from pending_actions
    where action_type = 'expedite'
),

-- Each order line with the units an accepted expedite pulls before its due date (0: none).
orders_pulled as (
    select
        orders.*,
        least(coalesce(expedites.units, 0), orders.open_units) as pulled_units,
        expedites.accepted_due_date
    from orders
    left join expedites
        on orders.reference_id = expedites.reference_id
        and orders.sku = expedites.sku
        and orders.location_id = expedites.location_id
        and expedites.arrival_week_start < orders.due_date
),

-- The line as it stands, less what is pulled forward ...
orders_left as (
    select
        supply_type,
        reference_id,
        sku,
        location_id,
        counterpart_id,
        open_units - pulled_units as open_units,
        original_due_date,
        due_date
    from orders_pulled
),

-- ... and the pulled units in the accepted week.
orders_expedited as (
    select
        supply_type,
        {{ dbt.concat(['reference_id', "'#expedited'"]) }} as reference_id,
        sku,
        location_id,
        counterpart_id,
        pulled_units as open_units,
        accepted_due_date as original_due_date,
        accepted_due_date as due_date
    from orders_pulled
    where accepted_due_date is not null
),

supply_lines as (
    select * from orders_left
    union all
    select * from orders_expedited
    union all
    select * from transfers
    union all
    select * from accepted_transfers
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
