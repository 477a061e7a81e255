-- The shortage exceptions (projected stockout, below safety stock) with their stable ids:
-- the needs that recommended actions try to cover.
with detected as (
    select * from {{ ref('int_exceptions__projection') }}
),

final as (
    select
        {{ exception_id('detected.exception_type', 'detected.subject_key', 'detected.occurrence') }}
            as exception_id,
        detected.exception_type,
        detected.sku,
        detected.location_id,
        detected.first_week_index,
        detected.last_week_index,
        detected.exception_units,
        detected.impact_value
    from detected
)

select * from final
