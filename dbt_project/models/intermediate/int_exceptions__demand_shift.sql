-- Demand shift: over the trailing tracking window (8 weeks) actuals have left the committed
-- plan. Fires when the tracking signal sum(A - P) / mean|A - P| is beyond the limit (+-4),
-- the deviation is significant against the SKU-location's own weekly noise (|z| at least
-- demand_shift_z_limit; noise measured before the window) and material (at least
-- demand_shift_min_change_pct of the plan), the window's plan has enough volume, and the
-- shift persists: over the last 3 weeks actuals are still that share off the plan, the same way. Impact: the revenue delta over the window, |sum A - sum P| x unit price.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sensing as (
    select * from {{ ref('int_demand_sensing') }}
    where week_index = 0
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

sensed_totals as (
    select
        sku,
        location_id,
        sum(sensed_units) as sensed_units,
        sum(plan_units) as plan_units
    from {{ ref('int_demand_sensing') }}
    cross join run_context
    where week_index < run_context.sensing_weeks
    group by sku, location_id
),

-- The last three weeks before week 0: is the shift still there?
recent as (
    select sku, location_id, sum(plan_units) as plan_units, sum(actual_units) as actual_units
    from {{ ref('int_plan_vs_actuals') }}
    where weeks_before_week0 <= 3
    group by sku, location_id
),

shifted as (
    select
        sensing.*,
        case when sensing.tracking_signal > 0 then 'up' else 'down' end as direction,
        sensing.window_actual_units - sensing.window_plan_units as deviation_units
    from sensing
    cross join run_context
    inner join recent
        on sensing.sku = recent.sku
        and sensing.location_id = recent.location_id
    where abs(sensing.tracking_signal) > run_context.tracking_signal_limit
        and abs(sensing.z_score) >= run_context.demand_shift_z_limit
        and abs(sensing.window_actual_units - sensing.window_plan_units)
            >= run_context.demand_shift_min_change_pct * sensing.window_plan_units
        and sign(recent.actual_units - recent.plan_units) = sign(sensing.tracking_signal)
        and abs(recent.actual_units - recent.plan_units)
            >= run_context.demand_shift_min_change_pct * recent.plan_units
        and sensing.window_plan_units >= run_context.demand_shift_min_volume_units
),

final as (
    select
        'demand_shift' as exception_type,
        shifted.sku,
        shifted.location_id,
        {{ dbt.concat(['shifted.sku', "'@'", 'shifted.location_id']) }} as subject_key,
        1 as occurrence,
        0 as first_week_index,
        cast(greatest(run_context.sensing_weeks, 1) as integer) - 1 as last_week_index,
        run_context.week0_start as first_week_start,
        cast({{ dbt.dateadd('day', '7 * (greatest(run_context.sensing_weeks, 1) - 1)', 'run_context.week0_start') }} as date)
            as last_week_start,
        cast(greatest(run_context.sensing_weeks, 1) as integer) as weeks_affected,
        abs(shifted.deviation_units) as exception_units,
        abs(shifted.deviation_units) * sku_locations.unit_price as impact_value,
        'tracking_signal_limit' as threshold_name,
        run_context.tracking_signal_limit as threshold_value,
        shifted.tracking_signal as driver_value,
        {{ dbt.concat([
            "'demand '", 'shifted.direction', "': actuals '",
            format_units('shifted.window_actual_units'), "' vs plan '",
            format_units('shifted.window_plan_units'), "' units over the last '",
            'cast(shifted.window_weeks as ' ~ dbt.type_string() ~ ')',
            "' weeks (tracking signal '", format_decimal('shifted.tracking_signal', 1),
            "', limit +-'", format_units('run_context.tracking_signal_limit'),
            "'; z '", format_decimal('shifted.z_score', 1), "'); sensed '",
            format_units('sensed_totals.sensed_units'), "' vs plan '",
            format_units('sensed_totals.plan_units'), "' units over the next '",
            format_units('run_context.sensing_weeks'), "' weeks'"
        ]) }} as detail
    from shifted
    cross join run_context
    inner join sku_locations
        on shifted.sku = sku_locations.sku
        and shifted.location_id = sku_locations.location_id
    left join sensed_totals
        on shifted.sku = sensed_totals.sku
        and shifted.location_id = sensed_totals.location_id
)

select * from final
