-- Lots that will not be sold before they expire: lots are consumed first-expiry-first-out by
-- the projected demand from as_of (each week's demand spread evenly over its days); what a
-- lot still holds on its expiry date is at risk. Lots expiring inside the horizon only.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

lots as (
    select * from {{ ref('stg_wms__inventory_snapshot') }}
),

projection as (
    select * from {{ ref('int_projection') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

usable_lots as (
    select
        lots.sku,
        lots.location_id,
        lots.lot_id,
        lots.expiry_date,
        lots.on_hand_units - lots.hold_units as usable_units,
        coalesce(sum(lots.on_hand_units - lots.hold_units) over (
            partition by lots.sku, lots.location_id
            order by lots.expiry_date, lots.lot_id
            rows between unbounded preceding and 1 preceding
        ), 0) as usable_units_expiring_earlier
    from lots
    cross join run_context
    where lots.expiry_date >= run_context.as_of
        and lots.expiry_date < {{ dbt.dateadd('day', 7 * var('horizon_weeks'), 'run_context.week0_start') }}
),

-- Demand from as_of up to (not including) each lot's expiry date.
demand_before_expiry as (
    select
        usable_lots.sku,
        usable_lots.location_id,
        usable_lots.lot_id,
        sum(
            projection.demand_units / 7.0 * greatest(0, {{ dbt.datediff(
                'greatest(projection.week_start, run_context.as_of)',
                'least(' ~ dbt.dateadd('day', 7, 'projection.week_start') ~ ', usable_lots.expiry_date)',
                'day') }})
        ) as demand_units
    from usable_lots
    cross join run_context
    inner join projection
        on usable_lots.sku = projection.sku
        and usable_lots.location_id = projection.location_id
    group by usable_lots.sku, usable_lots.location_id, usable_lots.lot_id
),

at_risk as (
    select
        usable_lots.*,
        usable_lots.usable_units - least(
            usable_lots.usable_units,
            greatest(0, demand_before_expiry.demand_units - usable_lots.usable_units_expiring_earlier)
        ) as units_at_risk
    from usable_lots
    inner join demand_before_expiry
        on usable_lots.sku = demand_before_expiry.sku
        and usable_lots.location_id = demand_before_expiry.location_id
        and usable_lots.lot_id = demand_before_expiry.lot_id
),

final as (
    select
        'expiry_risk' as exception_type,
        at_risk.sku,
        at_risk.location_id,
        {{ dbt.concat(['at_risk.sku', "'@'", 'at_risk.location_id', "'#'", 'at_risk.lot_id']) }}
            as subject_key,
        1 as occurrence,
        {{ horizon_week_index('at_risk.expiry_date', 'run_context.week0_start') }} as first_week_index,
        {{ horizon_week_index('at_risk.expiry_date', 'run_context.week0_start') }} as last_week_index,
        cast({{ dbt.date_trunc('week', 'at_risk.expiry_date') }} as date) as first_week_start,
        cast({{ dbt.date_trunc('week', 'at_risk.expiry_date') }} as date) as last_week_start,
        1 as weeks_affected,
        at_risk.units_at_risk as exception_units,
        at_risk.units_at_risk * sku_locations.unit_cost as impact_value,
        'expiry_date' as threshold_name,
        cast(null as double) as threshold_value,
        at_risk.usable_units as driver_value,
        {{ dbt.concat([
            "'Lot '", 'at_risk.lot_id', "' expires on '",
            'cast(at_risk.expiry_date as ' ~ dbt.type_string() ~ ')', "' with '",
            format_units('at_risk.units_at_risk'), "' of its '", format_units('at_risk.usable_units'),
            "' usable units unsold at the forecast'"
        ]) }} as detail
    from at_risk
    cross join run_context
    inner join sku_locations
        on at_risk.sku = sku_locations.sku
        and at_risk.location_id = sku_locations.location_id
    where at_risk.units_at_risk >= 1
)

select * from final
