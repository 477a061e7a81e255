-- BI contract: forecast accuracy of completed weeks. For each week before week 0, the
-- forecasts made by the latest earlier run whose as_of fell before that week began (an
-- honest ex-ante forecast), scored against the actuals: WAPE and bias of the sensed
-- forecast, the committed plan and seasonal-naive, and the forecast value added (FVA) of
-- sensing over each, per SKU-location and rolled up to product family, location and total.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

history as (
    select * from {{ ref('int_forecast_history') }}
),

ex_ante as (
    select * from (
        select
            history.*,
            row_number() over (
                partition by history.sku, history.location_id, history.week_start
                order by history.as_of desc
            ) as _newest
        from history
        cross join run_context
        where history.as_of < history.week_start
            and history.week_start < run_context.week0_start
    ) as ranked
    where _newest = 1
),

scored as (
    select
        ex_ante.week_start,
        ex_ante.as_of as forecast_as_of,
        ex_ante.week_index as lag_weeks,
        ex_ante.sku,
        ex_ante.location_id,
        sku_locations.product_family,
        coalesce(actuals.units, 0) as actual_units,
        ex_ante.sensed_units,
        ex_ante.plan_units,
        ex_ante.seasonal_naive_units
    from ex_ante
    inner join sku_locations
        on ex_ante.sku = sku_locations.sku
        and ex_ante.location_id = sku_locations.location_id
    left join {{ ref('int_weekly_actuals') }} as actuals
        on ex_ante.sku = actuals.sku
        and ex_ante.location_id = actuals.location_id
        and ex_ante.week_start = actuals.week_start
),

by_dimension as (
    select 'total' as dimension, 'all' as dimension_value, * from scored
    union all
    select 'product_family', product_family, * from scored
    union all
    select 'location', location_id, * from scored
    union all
    select 'sku_location', {{ dbt.concat(['sku', "'@'", 'location_id']) }}, * from scored
),

totals as (
    select
        week_start,
        dimension,
        dimension_value,
        min(forecast_as_of) as forecast_as_of,
        count(*) as sku_locations,
        sum(actual_units) as actual_units,
        sum(sensed_units) as sensed_units,
        sum(plan_units) as plan_units,
        sum(seasonal_naive_units) as seasonal_naive_units,
        sum(abs(actual_units)) as abs_actual_units,
        sum(abs(actual_units - sensed_units)) as sensed_abs_error,
        sum(abs(actual_units - plan_units)) as plan_abs_error,
        sum(abs(actual_units - seasonal_naive_units)) as seasonal_naive_abs_error
    from by_dimension
    group by week_start, dimension, dimension_value
),

final as (
    select
        run_context.as_of,
        totals.week_start,
        totals.dimension,
        totals.dimension_value,
        totals.forecast_as_of,
        totals.sku_locations,
        totals.actual_units,
        totals.sensed_units,
        totals.plan_units,
        totals.seasonal_naive_units,
        totals.sensed_abs_error / nullif(totals.abs_actual_units, 0) as sensed_wape,
        totals.plan_abs_error / nullif(totals.abs_actual_units, 0) as plan_wape,
        totals.seasonal_naive_abs_error / nullif(totals.abs_actual_units, 0) as seasonal_naive_wape,
        (totals.sensed_units - totals.actual_units) / nullif(totals.actual_units, 0) as sensed_bias,
        (totals.plan_units - totals.actual_units) / nullif(totals.actual_units, 0) as plan_bias,
        (totals.plan_abs_error - totals.sensed_abs_error) / nullif(totals.abs_actual_units, 0)
            as fva_over_plan,
        (totals.seasonal_naive_abs_error - totals.sensed_abs_error) / nullif(totals.abs_actual_units, 0)
            as fva_over_seasonal_naive
    from totals
    cross join run_context
)

select * from final
