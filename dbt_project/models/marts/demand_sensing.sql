-- BI contract: one row per SKU-location with how its sensed forecast was made (model,
-- parameters, fallbacks) and how far its actuals have drifted from the committed plan.
with sensing as (
    select * from {{ ref('int_demand_sensing') }}
),

totals as (
    select
        sku,
        location_id,
        sum(sensed_units) as sensed_units,
        sum(plan_units) as plan_units,
        count(*) as sensing_weeks
    from sensing
    group by sku, location_id
),

final as (
    select
        sensing.as_of,
        sensing.sku,
        sensing.location_id,
        sensing.method,
        sensing.explanation,
        sensing.season_model,
        sensing.alpha,
        sensing.ma_weeks,
        sensing.family_shape_kept,
        sensing.family_plan_kept,
        sensing.level,
        sensing.sigma,
        sensing.history_weeks,
        sensing.nonzero_weeks,
        sensing.intermittent,
        sensing.window_weeks,
        sensing.window_actual_units,
        sensing.window_plan_units,
        sensing.tracking_signal,
        sensing.z_score,
        sensing.gate_weight,
        totals.sensing_weeks,
        totals.sensed_units as horizon_sensed_units,
        totals.plan_units as horizon_plan_units
    from sensing
    inner join totals
        on sensing.sku = totals.sku
        and sensing.location_id = totals.location_id
    where sensing.week_index = 0
)

select * from final
