-- BI contract: what S&OE hands back to S&OP this cycle, at product family x region altitude:
-- problems that keep coming back (the same exception type at the same SKU-location in >= 3
-- of the last 4 weekly cycles), plan bias and accuracy beyond their limits, and this cycle's
-- escalations grouped per product family x region; each with a root-cause hint derived from
-- the data and the evidence behind it.
{%- set currency = var('currency') %}
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sightings as (
    select * from {{ ref('int_exception_sightings') }}
),

-- The last four weekly cycles up to this run (several runs in one week count once).
cycles as (
    select distinct sightings.week0_start
    from sightings
    cross join run_context
    where sightings.as_of <= run_context.as_of
    order by sightings.week0_start desc
    limit 4
),

recent as (
    select sightings.*
    from sightings
    cross join run_context
    where sightings.week0_start in (select week0_start from cycles)
        and sightings.as_of <= run_context.as_of
        and sightings.sku is not null
),

problems as (
    select
        exception_type,
        sku,
        location_id,
        max(product_family) as product_family,
        max(region) as region,
        count(distinct week0_start) as cycles_seen,
        max(impact_value) as impact_value
    from recent
    group by exception_type, sku, location_id
),

cycle_count as (
    select count(*) as cycles from cycles
),

late_supply as (
    select sku, location_id, count(distinct week0_start) as cycles_late
    from recent
    where exception_type = 'late_supply'
    group by sku, location_id
),

sensing as (
    select sku, location_id, window_weeks, window_actual_units, window_plan_units
    from {{ ref('int_demand_sensing') }}
    where week_index = 0
),

recurring as (
    select
        problems.*,
        cycle_count.cycles,
        coalesce(late_supply.cycles_late, 0) as cycles_late,
        sensing.window_weeks,
        sensing.window_actual_units,
        sensing.window_plan_units,
        (sensing.window_actual_units - sensing.window_plan_units)
            / nullif(sensing.window_plan_units, 0) as actual_vs_plan
    from problems
    cross join cycle_count
    left join late_supply
        on problems.sku = late_supply.sku
        and problems.location_id = late_supply.location_id
    left join sensing
        on problems.sku = sensing.sku
        and problems.location_id = sensing.location_id
    where problems.cycles_seen >= 3
),

recurring_hints as (
    select
        recurring.*,
        case
            when recurring.exception_type = 'inventory_mismatch' then 'record_inaccuracy'
            when recurring.exception_type = 'late_supply' then 'supplier_late'
            when recurring.exception_type in ('projected_stockout', 'below_safety_stock')
                and recurring.cycles_late > 0 then 'supplier_late'
            when recurring.actual_vs_plan >= 0.1
                and recurring.exception_type in ('projected_stockout', 'below_safety_stock', 'demand_shift')
                then 'plan_under_forecast'
            when recurring.actual_vs_plan <= -0.1
                and recurring.exception_type in ('excess_inventory', 'expiry_risk', 'demand_shift')
                then 'plan_over_forecast'
            when recurring.exception_type in ('projected_stockout', 'below_safety_stock')
                then 'supply_short_of_plan'
            when recurring.exception_type in ('excess_inventory', 'expiry_risk') then 'supply_above_need'
            when recurring.exception_type = 'schedule_miss' then 'capacity_short'
            else 'recurring_problem'
        end as hint_code
    from recurring
),

recurring_feedback as (
    select
        'recurring_exception' as feedback_type,
        product_family,
        region,
        sku,
        location_id,
        exception_type,
        hint_code,
        case hint_code
            when 'record_inaccuracy' then {{ dbt.concat([
                "'Recurring record inaccuracy at '", 'location_id',
                "': ERP book and WMS physical disagree again and again; fix the stock-booking process'"]) }}
            when 'supplier_late' then {{ dbt.concat([
                "'Supplier lead time longer than planned for '", 'sku', "' at '", 'location_id',
                "': open supply past due or slipped in '", 'cast(cycles_late as ' ~ dbt.type_string() ~ ')',
                "' of the last '", 'cast(cycles as ' ~ dbt.type_string() ~ ')', "' cycles'"]) }}
            when 'plan_under_forecast' then {{ dbt.concat([
                "'Plan under-forecasts '", 'sku', "' at '", 'location_id', "': actuals '",
                format_units('100 * actual_vs_plan'), "'% above plan over the last '",
                'cast(window_weeks as ' ~ dbt.type_string() ~ ')', "' weeks'"]) }}
            when 'plan_over_forecast' then {{ dbt.concat([
                "'Plan over-forecasts '", 'sku', "' at '", 'location_id', "': actuals '",
                format_units('-100 * actual_vs_plan'), "'% below plan over the last '",
                'cast(window_weeks as ' ~ dbt.type_string() ~ ')', "' weeks'"]) }}
            when 'supply_short_of_plan' then {{ dbt.concat([
                "'Replenishment for '", 'sku', "' at '", 'location_id',
                "' does not cover the planned demand: review order quantities, lead time and safety stock'"]) }}
            when 'supply_above_need' then {{ dbt.concat([
                "'Supply for '", 'sku', "' at '", 'location_id',
                "' runs above need: review order quantities and the plan'"]) }}
            when 'capacity_short' then {{ dbt.concat([
                "'Production at '", 'location_id', "' keeps missing its schedule for '", 'sku',
                "': review capacity in the plan'"]) }}
            else {{ dbt.concat(["'Recurring '", 'exception_type', "' for '", 'sku', "' at '", 'location_id']) }}
        end as hint,
        {{ dbt.concat([
            'exception_type', "' seen in '", 'cast(cycles_seen as ' ~ dbt.type_string() ~ ')',
            "' of the last '", 'cast(cycles as ' ~ dbt.type_string() ~ ')', "' weekly cycles; '",
            "'actuals '", "coalesce(" ~ format_units('window_actual_units') ~ ", 'n/a')",
            "' vs plan '", "coalesce(" ~ format_units('window_plan_units') ~ ", 'n/a')",
            "' units over the last '", "coalesce(cast(window_weeks as " ~ dbt.type_string() ~ "), 'n/a')",
            "' weeks; largest impact '", format_units('impact_value'), "' " ~ currency ~ "'"
        ]) }} as evidence,
        cycles_seen,
        impact_value,
        cast(null as bigint) as exception_count,
        cast(null as double) as short_units
    from recurring_hints
),

plan_history as (
    select * from {{ ref('int_plan_vs_actuals') }}
    where weeks_before_week0 <= 8
),

plan_quality as (
    select
        sku_locations.product_family,
        sku_locations.region,
        count(distinct plan_history.week_start) as weeks,
        sum(plan_history.plan_units) as plan_units,
        sum(plan_history.actual_units) as actual_units,
        (sum(plan_history.plan_units) - sum(plan_history.actual_units))
            / nullif(sum(plan_history.actual_units), 0) as plan_bias,
        sum(abs(plan_history.actual_units - plan_history.plan_units))
            / nullif(sum(abs(plan_history.actual_units)), 0) as plan_wape
    from plan_history
    inner join {{ ref('int_sku_locations') }} as sku_locations
        on plan_history.sku = sku_locations.sku
        and plan_history.location_id = sku_locations.location_id
    group by sku_locations.product_family, sku_locations.region
),

plan_feedback as (
    select
        'plan_bias' as feedback_type,
        plan_quality.product_family,
        plan_quality.region,
        cast(null as {{ dbt.type_string() }}) as sku,
        cast(null as {{ dbt.type_string() }}) as location_id,
        cast(null as {{ dbt.type_string() }}) as exception_type,
        case when plan_quality.plan_bias < 0 then 'plan_under_forecast' else 'plan_over_forecast' end
            as hint_code,
        {{ dbt.concat([
            "'Plan '", "case when plan_quality.plan_bias < 0 then 'under' else 'over' end",
            "'-forecasts '", 'plan_quality.product_family', "' in '", 'plan_quality.region',
            "' by '", format_units('100 * abs(plan_quality.plan_bias)'), "'%'"]) }} as hint,
        {{ dbt.concat([
            "'plan '", format_units('plan_quality.plan_units'), "' vs actual '",
            format_units('plan_quality.actual_units'), "' units over the last '",
            'cast(plan_quality.weeks as ' ~ dbt.type_string() ~ ')', "' weeks (bias '",
            format_units('100 * plan_quality.plan_bias'), "'%, limit +-'",
            format_units('100 * run_context.sop_plan_bias_limit'), "'%)'"]) }} as evidence,
        cast(null as bigint) as cycles_seen,
        cast(null as double) as impact_value,
        cast(null as bigint) as exception_count,
        cast(null as double) as short_units
    from plan_quality
    cross join run_context
    where abs(plan_quality.plan_bias) > run_context.sop_plan_bias_limit
    union all
    select
        'plan_accuracy',
        plan_quality.product_family,
        plan_quality.region,
        null,
        null,
        null,
        'plan_inaccurate',
        {{ dbt.concat([
            "'Plan for '", 'plan_quality.product_family', "' in '", 'plan_quality.region',
            "' misses actuals by '", format_units('100 * plan_quality.plan_wape'), "'% (WAPE)'"]) }},
        {{ dbt.concat([
            "'WAPE '", format_units('100 * plan_quality.plan_wape'), "'% over the last '",
            'cast(plan_quality.weeks as ' ~ dbt.type_string() ~ ')', "' weeks, limit '",
            format_units('100 * run_context.sop_plan_wape_limit'), "'%'"]) }},
        null,
        null,
        null,
        null
    from plan_quality
    cross join run_context
    where plan_quality.plan_wape > run_context.sop_plan_wape_limit
),

-- Escalations: stockouts S&OE could not cover inside the time fence and persistent demand
-- shifts, grouped per product family x region and type, with the root cause the data points
-- to for most of them: supply late (an open order of the SKU-location is late), demand above
-- (or, for shifts, below) plan, else no stock in the network to transfer.
escalated as (
    select
        exceptions.product_family,
        exceptions.region,
        exceptions.exception_type,
        exceptions.sku,
        exceptions.location_id,
        coalesce(exceptions.residual_shortage_units, exceptions.exception_units) as short_units,
        exceptions.impact_value,
        case
            when exceptions.exception_type = 'demand_shift' and exceptions.driver_value < 0
                then 'demand_below_plan'
            when exceptions.exception_type = 'demand_shift' then 'demand_above_plan'
            when late.sku is not null then 'supply_late'
            when (sensing.window_actual_units - sensing.window_plan_units)
                >= 0.1 * sensing.window_plan_units and sensing.window_plan_units > 0
                then 'demand_above_plan'
            else 'no_stock_in_network'
        end as hint_code
    from {{ ref('exceptions') }} as exceptions
    left join (
        select distinct sku, location_id
        from {{ ref('exceptions') }}
        where exception_type = 'late_supply'
    ) as late
        on exceptions.sku = late.sku
        and exceptions.location_id = late.location_id
    left join sensing
        on exceptions.sku = sensing.sku
        and exceptions.location_id = sensing.location_id
    where exceptions.escalate_to_sop
),

escalation_causes as (
    select
        product_family,
        region,
        exception_type,
        hint_code,
        count(*) as escalations,
        sum(impact_value) as impact_value
    from escalated
    group by product_family, region, exception_type, hint_code
),

escalation_groups as (
    select
        escalated.product_family,
        escalated.region,
        escalated.exception_type,
        count(*) as escalations,
        sum(escalated.short_units) as short_units,
        sum(escalated.impact_value) as impact_value,
        {{ ordered_listagg(dbt.concat(['escalated.sku', "'@'", 'escalated.location_id']), "', '",
                           ['-escalated.impact_value', 'escalated.sku', 'escalated.location_id']) }}
            as subjects
    from escalated
    group by escalated.product_family, escalated.region, escalated.exception_type
),

main_cause as (
    select product_family, region, exception_type, hint_code, escalations as cause_count
    from (
        select
            escalation_causes.*,
            row_number() over (
                partition by product_family, region, exception_type
                order by escalations desc, impact_value desc, hint_code
            ) as cause_rank
        from escalation_causes
    ) as ranked
    where cause_rank = 1
),

escalation_feedback as (
    select
        'escalation' as feedback_type,
        escalation_groups.product_family,
        escalation_groups.region,
        cast(null as {{ dbt.type_string() }}) as sku,
        cast(null as {{ dbt.type_string() }}) as location_id,
        escalation_groups.exception_type,
        main_cause.hint_code,
        {{ dbt.concat([
            'cast(escalation_groups.escalations as ' ~ dbt.type_string() ~ ')',
            "case when escalation_groups.exception_type = 'demand_shift' "
            "then ' persistent demand shifts of ' else ' stockouts of ' end",
            'escalation_groups.product_family', "' in '", 'escalation_groups.region',
            "case when escalation_groups.exception_type = 'demand_shift' then ': ' "
            "else ' cannot be covered inside the time fence: ' end",
            "case main_cause.hint_code "
            "when 'supply_late' then 'open supply is late' "
            "when 'demand_above_plan' then 'demand runs above the plan' "
            "when 'demand_below_plan' then 'demand runs below the plan' "
            "else 'no stock in the network to transfer' end",
            "case when main_cause.cause_count < escalation_groups.escalations then "
            + dbt.concat(["' for '", 'cast(main_cause.cause_count as ' ~ dbt.type_string() ~ ')',
                          "' of them'"]) + " else '' end",
            "'; re-plan supply or demand'"
        ]) }} as hint,
        {{ dbt.concat([
            format_units('escalation_groups.short_units'), "' units short, impact '",
            format_units('escalation_groups.impact_value'), "' " ~ currency ~ ": '",
            'escalation_groups.subjects'
        ]) }} as evidence,
        cast(null as bigint) as cycles_seen,
        escalation_groups.impact_value,
        cast(escalation_groups.escalations as bigint) as exception_count,
        cast(escalation_groups.short_units as double) as short_units
    from escalation_groups
    inner join main_cause
        on escalation_groups.product_family = main_cause.product_family
        and escalation_groups.region = main_cause.region
        and escalation_groups.exception_type = main_cause.exception_type
),

final as (
    select
        run_context.as_of,
        feedback.*
    from (
        select * from recurring_feedback
        union all
        select * from plan_feedback
        union all
        select * from escalation_feedback
    ) as feedback
    cross join run_context
)

select * from final
