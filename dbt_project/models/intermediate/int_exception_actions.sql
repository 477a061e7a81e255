-- One row per shortage exception: what the action plan's actions do for it.
with plan as (
    select * from {{ ref('int_action_plan') }}
),

final as (
    select
        exception_id,
        escalate_to_sop,
        residual_shortage_units,
        covered_units,
        recommended_action
    from plan
    where plan_part = 'exception'
)

select * from final
