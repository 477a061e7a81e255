-- The current run's as_of and thresholds, plus the first day of horizon week 0.
with source as (
    select * from {{ source('pipeline', 'run_context') }}
),

final as (
    select
        source.*,
        cast({{ dbt.date_trunc('week', 'as_of') }} as date) as week0_start
    from source
)

select * from final
