-- Horizon totals and forward weeks of cover per SKU-location: step through weekly demand
-- from week 0 until usable stock runs out (fractional weeks); beyond the horizon at its
-- average weekly demand; null when there is no demand.
with positions as (
    select * from {{ ref('int_inventory_positions') }}
),

projection as (
    select * from {{ ref('int_projection') }}
),

cumulative_demand as (
    select
        projection.sku,
        projection.location_id,
        projection.week_index,
        projection.demand_units,
        projection.usable_on_hand_units,
        sum(projection.demand_units) over (
            partition by projection.sku, projection.location_id
            order by projection.week_index
            rows between unbounded preceding and current row
        ) - projection.demand_units as demand_before_week
    from projection
),

horizon_totals as (
    select
        projection.sku,
        projection.location_id,
        sum(projection.demand_units) as horizon_demand_units,
        sum(projection.receipts_units) as horizon_receipts_units,
        min(projection.projected_available_units) as min_projected_available_units,
        min(case when projection.projected_available_units < 0 then projection.week_start end)
            as first_stockout_week_start,
        min(
            case
                when projection.projected_available_units < projection.safety_stock_units
                    then projection.week_start
            end
        ) as first_below_safety_stock_week_start
    from projection
    group by projection.sku, projection.location_id
),

-- Step through demand from week 0: the week in which usable stock runs out, with the
-- fraction of that week it still covers.
run_out as (
    select
        sku,
        location_id,
        min(
            case
                when usable_on_hand_units < demand_before_week + demand_units
                    then week_index + (usable_on_hand_units - demand_before_week) / demand_units
            end
        ) as cover_within_horizon_weeks
    from cumulative_demand
    group by sku, location_id
),

cover as (
    select
        horizon_totals.*,
        case
            when horizon_totals.horizon_demand_units <= 0 then null
            when positions.usable_on_hand_units <= 0 then 0
            when run_out.cover_within_horizon_weeks is not null
                then run_out.cover_within_horizon_weeks
            else {{ var('horizon_weeks') }}
                + (positions.usable_on_hand_units - horizon_totals.horizon_demand_units)
                / (horizon_totals.horizon_demand_units / {{ var('horizon_weeks') }})
        end as weeks_of_cover
    from horizon_totals
    inner join positions
        on horizon_totals.sku = positions.sku
        and horizon_totals.location_id = positions.location_id
    left join run_out
        on horizon_totals.sku = run_out.sku
        and horizon_totals.location_id = run_out.location_id
)

select * from cover
