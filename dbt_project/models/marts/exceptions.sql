-- BI contract: the open exceptions for the as_of, one row per problem, ranked by impact
-- discounted by how soon it hits, each with its reason, drivers and recommended action.
{%- set currency = var('currency') %}
{#- The exceptions earlier runs saw (int_exception_sightings, built from this model, read by
    earlier_runs): a demand shift seen in the previous weekly cycle too is persistent. #}
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

positions as (
    select * from {{ ref('int_inventory_positions') }}
),

checks as (
    select * from {{ ref('stg_pipeline__extract_checks') }}
),

exception_inputs as (
    select * from {{ ref('exception_inputs') }}
),

exception_actions as (
    select * from {{ ref('int_exception_actions') }}
),

-- A planner's latest snooze of each exception (soe/decisions, int_decisions).
snoozes as (
    select *
    from (
        select
            exception_id,
            snooze_until,
            impact_when_decided,
            row_number() over (partition by exception_id order by decided_at desc, decision_id desc)
                as recency
        from {{ ref('int_decisions') }}
        where decision_status = 'applied' and decision = 'snooze'
    ) as ranked
    where recency = 1
),

detected as (
    select * from {{ ref('int_exceptions__projection') }}
    union all
    select * from {{ ref('int_exceptions__inventory_mismatch') }}
    union all
    select * from {{ ref('int_exceptions__excess_inventory') }}
    union all
    select * from {{ ref('int_exceptions__expiry_risk') }}
    union all
    select * from {{ ref('int_exceptions__late_supply') }}
    union all
    select * from {{ ref('int_exceptions__schedule_miss') }}
    union all
    select * from {{ ref('int_exceptions__demand_shift') }}
    union all
    select * from {{ ref('int_exceptions__stale_data') }}
),

stale_locations as (
    select * from {{ ref('stg_pipeline__stale_locations') }}
),

-- The stale inputs each exception type can be computed from: an extract whose feed is older
-- than its SLA (every exception of the types it feeds), or a location silent in a daily feed
-- (only exceptions at that location). A sparse feed's old business date is not stale.
stale_inputs as (
    select
        exception_inputs.exception_type,
        cast(null as {{ dbt.type_string() }}) as location_id,
        {{ dbt.concat(['checks.system', "'/'", 'checks.extract', "' (newest file older than its SLA)'"]) }}
            as stale_input
    from exception_inputs
    inner join checks
        on exception_inputs.system = checks.system
        and exception_inputs.extract = checks.extract
    where checks.check_name = 'freshness'
        and coalesce(checks.extraction_status, checks.status) in ('warn', 'error')
    union all
    select
        exception_inputs.exception_type,
        stale_locations.location_id,
        {{ dbt.concat([
            'stale_locations.system', "'/'", 'stale_locations.extract', "' at '",
            'stale_locations.location_id', "' (nothing since '",
            dbt.cast('stale_locations.last_business_date', dbt.type_string()), "')'"
        ]) }} as stale_input
    from exception_inputs
    inner join stale_locations
        on exception_inputs.system = stale_locations.system
        and exception_inputs.extract = stale_locations.extract
),

-- The previous weekly cycle's runs came before this one: earlier_runs reads them.
previous_cycle_shifts as (
    select distinct sightings.exception_id
    from (
        {{ earlier_runs('int_exception_sightings', {
            'as_of': 'date', 'week0_start': 'date', 'exception_id': dbt.type_string(),
            'exception_type': dbt.type_string()}) }}
    ) as sightings
    cross join run_context
    where sightings.exception_type = 'demand_shift'
        and sightings.week0_start = cast({{ dbt.dateadd('day', -7, 'run_context.week0_start') }} as date)
),

identified as (
    select
        {{ exception_id('detected.exception_type', 'detected.subject_key', 'detected.occurrence') }}
            as exception_id,
        detected.*
    from detected
),

exception_stale_inputs as (
    select
        identified.exception_id,
        {{ ordered_listagg('stale_inputs.stale_input', "'; '", ['stale_inputs.stale_input']) }}
            as stale_inputs
    from identified
    inner join stale_inputs
        on identified.exception_type = stale_inputs.exception_type
        and (stale_inputs.location_id is null or stale_inputs.location_id = identified.location_id)
    group by identified.exception_id
),

described as (
    select
        detected.*,
        sku_locations.location_type,
        sku_locations.region,
        sku_locations.product_family,
        detected.first_week_index < run_context.time_fence_weeks as is_inside_time_fence,
        case
            when detected.exception_type = 'projected_stockout'
                then {{ dbt.concat([
                    'detected.location_id', "' runs out of '", 'detected.sku',
                    "' in week '", iso_week_label('detected.first_week_start'),
                    "': '", format_units('detected.exception_units'), "' units short, '",
                    format_units('detected.impact_value'), "' " ~ currency ~ " of sales at risk'"
                ]) }}
            when detected.exception_type = 'below_safety_stock'
                then {{ dbt.concat([
                    'detected.location_id', "' falls below safety stock of '", 'detected.sku',
                    "' in week '", iso_week_label('detected.first_week_start'),
                    "': '", format_units('detected.exception_units'), "' units under the '",
                    format_units('detected.threshold_value'), "'-unit target, '",
                    format_units('detected.impact_value'), "' " ~ currency ~ " of stock'"
                ]) }}
            when detected.exception_type = 'inventory_mismatch'
                then {{ dbt.concat([
                    'detected.location_id', "' '", 'detected.sku', "': ERP book '",
                    format_units('positions.book_on_hand_units'), "' vs WMS physical '",
                    format_units('positions.physical_on_hand_units'), "' units ('",
                    format_units('detected.exception_units'), "' apart, tolerance '",
                    format_units('detected.threshold_value'), "')'"
                ]) }}
            when detected.exception_type = 'stale_data' then detected.detail
            else {{ dbt.concat(['detected.location_id', "' '", 'detected.sku', "': '", 'detected.detail',
                "' (impact '", format_units('detected.impact_value'), "' " ~ currency ~ ")'"]) }}
        end as reason,
        case
            when exception_actions.recommended_action <> '' then exception_actions.recommended_action
            when detected.exception_type = 'projected_stockout'
                then {{ dbt.concat([
                    "'Cover '", format_units('detected.exception_units'),
                    "' units before '", iso_week_label('detected.first_week_start'),
                    "': transfer from a location with surplus, expedite open supply, or escalate to S&OP'"
                ]) }}
            when detected.exception_type = 'below_safety_stock'
                then {{ dbt.concat([
                    "'Replenish '", format_units('detected.exception_units'),
                    "' units by '", iso_week_label('detected.first_week_start'),
                    "': expedite open supply or transfer'"
                ]) }}
            when detected.exception_type = 'inventory_mismatch'
                then {{ dbt.concat([
                    "'Cycle count '", 'detected.sku', "' at '", 'detected.location_id',
                    "' and correct the ERP book'"
                ]) }}
            when detected.exception_type = 'stale_data'
                then {{ dbt.concat(["'Fix the '", 'detected.subject_key',
                    "' feed; exceptions computed from it are flagged low confidence'"]) }}
            when detected.exception_type = 'excess_inventory'
                then {{ dbt.concat(["'Stop or defer supply and offer '", format_units('detected.exception_units'),
                    "' units as a transfer donor'"]) }}
            when detected.exception_type = 'expiry_risk'
                then {{ dbt.concat(["'Transfer or promote '", format_units('detected.exception_units'),
                    "' units before they expire'"]) }}
            when detected.exception_type = 'late_supply'
                then 'Expedite with the supplier or plant, or re-source'
            when detected.exception_type = 'schedule_miss'
                then 'Reprioritise the production schedule to recover the shortfall'
            when detected.exception_type = 'demand_shift' and previous_cycle_shifts.exception_id is not null
                then 'Persistent: seen in the previous weekly cycle too; escalated to S&OP to re-plan demand'
            when detected.exception_type = 'demand_shift'
                and detected.impact_value >= run_context.escalation_impact
                then {{ dbt.concat(["'Escalated to S&OP: the shift runs beyond the time fence with impact at or above '",
                    format_units('run_context.escalation_impact'), "' " ~ currency ~ "; re-plan demand'"]) }}
            when detected.exception_type = 'demand_shift'
                then 'Review the demand plan for the coming weeks; escalated to S&OP if it persists next cycle'
        end as recommended_action,
        case
            when detected.exception_type in ('projected_stockout', 'below_safety_stock')
                then 'supply_planner'
            when detected.exception_type = 'inventory_mismatch' then 'inventory_control'
            when detected.exception_type = 'stale_data' then 'data_engineering'
            when detected.exception_type in ('excess_inventory', 'expiry_risk') then 'inventory_planner'
            when detected.exception_type = 'late_supply' then 'buyer'
            when detected.exception_type = 'schedule_miss' then 'production_scheduler'
            when detected.exception_type = 'demand_shift' then 'demand_planner'
        end as owner_role,
        case
            when detected.exception_type = 'projected_stockout'
                and detected.first_week_index < run_context.time_fence_weeks then 'critical'
            when detected.exception_type = 'projected_stockout' then 'high'
            when detected.exception_type = 'inventory_mismatch'
                and detected.exception_units > 0.1 * positions.physical_on_hand_units then 'medium'
            when detected.exception_type in ('inventory_mismatch', 'stale_data') then 'low'
            when detected.exception_type = 'late_supply' and detected.impact_value > 0 then 'high'
            when detected.exception_type = 'excess_inventory' then 'low'
            else 'medium'
        end as severity,
        case
            when detected.first_week_index < run_context.time_fence_weeks then 'inside_time_fence'
            when detected.first_week_index < run_context.sensing_weeks then 'near_term'
            else 'later_in_horizon'
        end as urgency,
        -- Impact discounted by the weeks until the problem hits: sooner outranks later.
        detected.impact_value / (1 + detected.first_week_index) as priority_score,
        -- Escalation means re-planning is needed: a stockout the coordinated actions cannot
        -- cover inside the time fence (soe_pipeline.actions decides, with the option
        -- escalate_covered_impact), or a persistent demand shift; a covered shortage or a
        -- safety-stock gap is S&OE's own business.
        coalesce(exception_actions.escalate_to_sop, false)
            or (
                -- a persistent demand shift: seen in 2 consecutive cycles, or beyond the fence
                -- (it spans the sensing weeks) with impact over the threshold
                detected.exception_type = 'demand_shift'
                and (previous_cycle_shifts.exception_id is not null
                     or detected.impact_value >= run_context.escalation_impact)
            ) as escalate_to_sop,
        exception_actions.covered_units,
        exception_actions.residual_shortage_units,
        exception_stale_inputs.stale_inputs,
        case when exception_stale_inputs.stale_inputs is null then 'high' else 'low' end as data_confidence,
        -- Snoozed: out of the ranked list until the date, unless the impact has grown beyond
        -- snooze_wake_impact_ratio times what it was when snoozed. (Another exception type
        -- at the SKU-location is another exception, never snoozed by this one.)
        coalesce(
            snoozes.snooze_until > run_context.as_of
            and detected.impact_value
                <= run_context.snooze_wake_impact_ratio * coalesce(snoozes.impact_when_decided, 0),
            false
        ) as is_snoozed,
        snoozes.snooze_until
    from identified as detected
    cross join run_context
    left join exception_actions
        on detected.exception_id = exception_actions.exception_id
    left join sku_locations
        on detected.sku = sku_locations.sku
        and detected.location_id = sku_locations.location_id
    left join positions
        on detected.sku = positions.sku
        and detected.location_id = positions.location_id
    left join exception_stale_inputs
        on detected.exception_id = exception_stale_inputs.exception_id
    left join previous_cycle_shifts
        on detected.exception_id = previous_cycle_shifts.exception_id
    left join snoozes
        on detected.exception_id = snoozes.exception_id
),

final as (
    select
        run_context.as_of,
        described.exception_id,
        described.exception_type,
        described.sku,
        described.location_id,
        described.location_type,
        described.product_family,
        described.region,
        described.first_week_start,
        described.last_week_start,
        described.first_week_index,
        described.weeks_affected,
        described.severity,
        described.urgency,
        described.is_inside_time_fence,
        described.exception_units,
        described.impact_value,
        described.priority_score,
        -- Severity first (a stockout inside the time fence outranks a costly excess), then
        -- impact discounted by how soon it hits. Snoozed exceptions are not ranked.
        case when not described.is_snoozed then cast(row_number() over (
            partition by described.is_snoozed
            order by
                case described.severity
                    when 'critical' then 1 when 'high' then 2 when 'medium' then 3 else 4
                end,
                described.priority_score desc, described.exception_type,
                described.subject_key, described.occurrence
        ) as bigint) end as priority_rank,
        described.threshold_name,
        described.threshold_value,
        described.driver_value,
        -- A shortage that actions cover says how in its reason line ("...; transfer 400 from DC02").
        case
            when described.covered_units > 0
                then {{ dbt.concat(['described.reason', "'; '", 'described.recommended_action']) }}
            else described.reason
        end as reason,
        described.recommended_action,
        described.owner_role,
        described.escalate_to_sop,
        described.covered_units,
        described.residual_shortage_units,
        described.data_confidence,
        described.stale_inputs,
        described.is_snoozed,
        described.snooze_until
    from described
    cross join run_context
)

select * from final
