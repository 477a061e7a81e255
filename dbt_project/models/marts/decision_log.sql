-- BI contract: every planner decision visible to the run (soe/decisions), with how the run
-- took it: applied, rejected with the reason (an unknown exception or action, an action of
-- another exception, a snooze without a date ...), or not_yet (decided after as_of).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

decisions as (
    select * from {{ ref('int_decisions') }}
),

final as (
    select
        run_context.as_of,
        decisions.decision_id,
        decisions.decided_at,
        decisions.exception_id,
        decisions.action_id,
        decisions.decision,
        decisions.owner,
        decisions.snooze_until,
        decisions.units,
        decisions.note,
        decisions.exception_type,
        decisions.sku,
        decisions.location_id,
        decisions.decision_status,
        decisions.reject_reason,
        decisions._source_file as source_file
    from decisions
    cross join run_context
)

select * from final
