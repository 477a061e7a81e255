-- Planners' decisions (soe/decisions) checked against what earlier runs showed them, one row
-- per decision: `applied`, `rejected` with the reason, or `not_yet` (decided after as_of).
-- Only runs before this as_of count (int_exception_sightings and int_action_history as they
-- stand before this build: macro earlier_runs), so re-running an as_of with the same
-- decisions gives the same result.

with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

decisions as (
    select
        *,
        cast(decided_at as date) as decided_on
    from {{ ref('stg_soe__decisions') }}
),

earlier_sightings as (
    {{ earlier_runs('int_exception_sightings', {
        'as_of': 'date', 'exception_id': dbt.type_string(), 'exception_type': dbt.type_string(),
        'sku': dbt.type_string(), 'location_id': dbt.type_string(), 'impact_value': 'double'}) }}
),

earlier_actions as (
    {{ earlier_runs('int_action_history', {
        'as_of': 'date', 'action_id': dbt.type_string(), 'action_type': dbt.type_string(),
        'resolves_exception_ids': dbt.type_string()}) }}
),

-- The exception as the planner last saw it before deciding: the latest earlier run that
-- raised it on or before the decision's date.
seen_before as (
    select *
    from (
        select
            decisions.decision_id,
            earlier_sightings.exception_type,
            earlier_sightings.sku,
            earlier_sightings.location_id,
            earlier_sightings.impact_value,
            row_number() over (
                partition by decisions.decision_id order by earlier_sightings.as_of desc
            ) as recency
        from decisions
        inner join earlier_sightings
            on decisions.exception_id = earlier_sightings.exception_id
            and earlier_sightings.as_of <= decisions.decided_on
    ) as ranked
    where recency = 1
),

known_actions as (
    select
        decisions.decision_id,
        max(earlier_actions.action_type) as action_type,
        max(case
            when {{ dbt.concat(["','", 'earlier_actions.resolves_exception_ids', "','"]) }}
                like {{ dbt.concat(["'%,'", 'decisions.exception_id', "',%'"]) }}
            then 1 else 0
        end) as belongs_to_exception
    from decisions
    inner join earlier_actions
        on decisions.action_id = earlier_actions.action_id
        and earlier_actions.as_of <= decisions.decided_on
    group by decisions.decision_id
),

judged as (
    select
        decisions.*,
        seen_before.exception_type,
        seen_before.sku,
        seen_before.location_id,
        seen_before.impact_value as impact_when_decided,
        known_actions.action_type,
        nullif(concat_ws('; ',
            case when seen_before.decision_id is null
                then 'exception_id: unknown (no run before the decision raised it)' end,
            case when decisions.decision in ('accept_action', 'reject_action')
                    and decisions.action_id is null
                then {{ dbt.concat(["'action_id: needed for '", 'decisions.decision']) }} end,
            case when decisions.action_id is not null and known_actions.decision_id is null
                then 'action_id: unknown (no run before the decision recommended it)' end,
            case when known_actions.belongs_to_exception = 0
                then {{ dbt.concat(["'action_id: '", 'decisions.action_id',
                                    "' does not belong to exception '", 'decisions.exception_id']) }} end,
            case when decisions.decision = 'snooze' and decisions.snooze_until is null
                then 'snooze_until: needed for snooze' end,
            case when decisions.decision = 'snooze' and decisions.snooze_until <= decisions.decided_on
                then 'snooze_until: not after the decision' end,
            case when decisions.decision = 'assign' and decisions.owner is null
                then 'owner: needed for assign' end,
            case when decisions.decision = 'accept_action' and decisions.units = 0
                then 'units: 0 accepted (reject the action instead)' end
        ), '') as reject_reason
    from decisions
    left join seen_before on decisions.decision_id = seen_before.decision_id
    left join known_actions on decisions.decision_id = known_actions.decision_id
),

statused as (
    select
        judged.decision_id,
        judged.decided_at,
        judged.decided_on,
        judged.exception_id,
        judged.action_id,
        judged.decision,
        judged.owner,
        judged.snooze_until,
        judged.units,
        judged.note,
        judged.exception_type,
        judged.sku,
        judged.location_id,
        judged.impact_when_decided,
        judged.action_type,
        case
            when judged.decided_on > run_context.as_of then 'not_yet'
            when judged.reject_reason is not null then 'rejected'
            else 'applied'
        end as decision_status,
        case when judged.decided_on <= run_context.as_of then judged.reject_reason end
            as reject_reason,
        judged._source_file
    from judged
    cross join run_context
),

-- accept_action and reject_action: the latest applied word on an exception's action is the one
-- that counts (a reject withdraws an earlier accept and the other way round).
final as (
    select
        statused.*,
        statused.decision_status = 'applied'
            and statused.decision in ('accept_action', 'reject_action')
            and row_number() over (
                partition by statused.exception_id, statused.action_id,
                    statused.decision_status = 'applied'
                    and statused.decision in ('accept_action', 'reject_action')
                order by statused.decided_at desc, statused.decision_id desc
            ) = 1 as is_latest_on_action
    from statused
)

select * from final
