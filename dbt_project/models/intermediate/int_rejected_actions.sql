-- The actions planners rejected for an exception (soe/decisions) within the last
-- `reject_weeks` weeks: the action plan does not recommend them again for that exception
-- and offers the next best. A later accept_action of the same pair lifts the rejection.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

latest_decisions as (
    select * from {{ ref('int_decisions') }}
    where is_latest_on_action and decision = 'reject_action'
),

final as (
    select
        latest_decisions.exception_id,
        latest_decisions.action_id,
        latest_decisions.decided_at as rejected_at,
        latest_decisions.note
    from latest_decisions
    cross join run_context
    where latest_decisions.decided_on
            > cast({{ dbt.dateadd('day', '-7 * run_context.reject_weeks', 'run_context.as_of') }} as date)
)

select * from final
