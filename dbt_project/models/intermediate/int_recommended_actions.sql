-- One row per recommended action (transfer, expedite, escalation) of the action plan.
with plan as (
    select * from {{ ref('int_action_plan') }}
),

final as (
    select
        action_id,
        action_type,
        sku,
        from_location_id,
        to_location_id,
        reference_id,
        units,
        need_week_index,
        arrival_week_index,
        ship_week_index,
        resolves_exception_ids,
        residual_shortage_units,
        impact_value,
        reason
    from plan
    where plan_part = 'action'
)

select * from final
