-- Weekly projection per SKU-location over the horizon: plan, open orders, demand used
-- (orders consume the forecast), receipts and the projected available balance
-- PAB_w = PAB_(w-1) + receipts_w - demand_w, starting from usable on-hand. The forecast is
-- the sensed forecast inside the sensing horizon (weeks < sensing_weeks) and the plan beyond.
-- A transfer a planner accepted is firm: supply at its destination (int_open_supply) and
-- demand at its donor from its ship week (past ship weeks land in week 0) until the transfers
-- extract shows it (int_accepted_actions).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

positions as (
    select * from {{ ref('int_inventory_positions') }}
),

horizon_weeks as (
    select
        week_indexes.week_index,
        cast({{ dbt.dateadd('day', '7 * week_indexes.week_index', 'run_context.week0_start') }} as date)
            as week_start,
        week_indexes.week_index < run_context.sensing_weeks as is_sensed_week
    from ({{ horizon_week_indexes() }}) as week_indexes
    cross join run_context
),

plan as (
    select sku, location_id, week_start, sum(plan_units) as plan_units
    from {{ ref('int_committed_plan') }}
    group by sku, location_id, week_start
),

sensed as (
    select sku, location_id, week_index, sensed_units
    from {{ ref('int_demand_sensing') }}
),

open_orders as (
    select sku, location_id, week_index, sum(open_units) as open_order_units
    from {{ ref('int_open_customer_orders') }}
    group by sku, location_id, week_index
),

accepted_transfers_out as (
    select sku, location_id, week_index, sum(units) as accepted_transfer_out_units
    from (
        select
            accepted.sku,
            accepted.from_location_id as location_id,
            {{ horizon_week_index('accepted.ship_week_start', 'run_context.week0_start') }} as week_index,
            accepted.units
        from {{ ref('int_accepted_actions') }} as accepted
        inner join run_context on accepted.as_of = run_context.as_of
        where accepted.action_state = 'pending' and accepted.action_type = 'transfer'
    ) as transfers_out
    group by sku, location_id, week_index
),

supply as (
    select
        sku,
        location_id,
        week_index,
        sum(open_units) as receipts_units,
        sum(case when supply_type = 'purchase_order' then open_units else 0 end)
            as purchase_order_units,
        sum(case when supply_type = 'transfer' then open_units else 0 end) as transfer_units,
        sum(case when supply_type = 'production_order' then open_units else 0 end)
            as production_units,
        sum(case when supply_type = 'accepted_transfer' then open_units else 0 end)
            as accepted_transfer_in_units
    from {{ ref('int_open_supply') }}
    group by sku, location_id, week_index
),

weekly as (
    select
        sku_locations.sku,
        sku_locations.location_id,
        horizon_weeks.week_index,
        horizon_weeks.week_start,
        sku_locations.safety_stock_units,
        coalesce(plan.plan_units, 0) as plan_units,
        case when horizon_weeks.is_sensed_week then sensed.sensed_units end as sensed_units,
        coalesce(
            case when horizon_weeks.is_sensed_week then sensed.sensed_units end,
            plan.plan_units,
            0
        ) as forecast_units,
        coalesce(open_orders.open_order_units, 0) as open_order_units,
        coalesce(supply.receipts_units, 0) as receipts_units,
        coalesce(supply.purchase_order_units, 0) as purchase_order_units,
        coalesce(supply.transfer_units, 0) as transfer_units,
        coalesce(supply.production_units, 0) as production_units,
        coalesce(supply.accepted_transfer_in_units, 0) as accepted_transfer_in_units,
        coalesce(accepted_transfers_out.accepted_transfer_out_units, 0) as accepted_transfer_out_units,
        positions.usable_on_hand_units
    from sku_locations
    cross join horizon_weeks
    inner join positions
        on sku_locations.sku = positions.sku
        and sku_locations.location_id = positions.location_id
    left join plan
        on sku_locations.sku = plan.sku
        and sku_locations.location_id = plan.location_id
        and horizon_weeks.week_start = plan.week_start
    left join sensed
        on sku_locations.sku = sensed.sku
        and sku_locations.location_id = sensed.location_id
        and horizon_weeks.week_index = sensed.week_index
    left join open_orders
        on sku_locations.sku = open_orders.sku
        and sku_locations.location_id = open_orders.location_id
        and horizon_weeks.week_index = open_orders.week_index
    left join supply
        on sku_locations.sku = supply.sku
        and sku_locations.location_id = supply.location_id
        and horizon_weeks.week_index = supply.week_index
    left join accepted_transfers_out
        on sku_locations.sku = accepted_transfers_out.sku
        and sku_locations.location_id = accepted_transfers_out.location_id
        and horizon_weeks.week_index = accepted_transfers_out.week_index
),

with_demand as (
    select
        weekly.*,
        -- orders consume the forecast; an accepted transfer out comes on top
        greatest(weekly.forecast_units, weekly.open_order_units) + weekly.accepted_transfer_out_units
            as demand_units
    from weekly
),

balances as (
    select
        with_demand.*,
        with_demand.usable_on_hand_units + sum(with_demand.receipts_units - with_demand.demand_units)
            over (
                partition by with_demand.sku, with_demand.location_id
                order by with_demand.week_index
                rows between unbounded preceding and current row
            ) as projected_available_units
    from with_demand
),

final as (
    select
        balances.*,
        balances.projected_available_units - balances.receipts_units + balances.demand_units
            as opening_available_units
    from balances
)

select * from final
