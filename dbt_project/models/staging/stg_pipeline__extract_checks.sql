-- Contract and freshness check results recorded for the current as_of, one row per extract and check.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

checks as (
    select * from {{ source('pipeline', 'extract_checks') }}
),

final as (
    select checks.*
    from checks
    inner join run_context on checks.as_of = run_context.as_of
)

select * from final
