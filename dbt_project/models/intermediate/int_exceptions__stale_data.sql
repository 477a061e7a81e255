-- An extract older than its freshness SLA (warn level; error level blocks the run before
-- this model): one exception per extract, owned by data engineering.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

checks as (
    select * from {{ ref('stg_pipeline__extract_checks') }}
),

final as (
    select
        'stale_data' as exception_type,
        cast(null as {{ dbt.type_string() }}) as sku,
        cast(null as {{ dbt.type_string() }}) as location_id,
        {{ dbt.concat(['checks.system', "'/'", 'checks.extract']) }} as subject_key,
        1 as occurrence,
        0 as first_week_index,
        0 as last_week_index,
        run_context.week0_start as first_week_start,
        run_context.week0_start as last_week_start,
        1 as weeks_affected,
        cast(null as double) as exception_units,
        cast(0 as double) as impact_value,
        'freshness_sla' as threshold_name,
        cast(null as double) as threshold_value,
        cast(null as double) as driver_value,
        checks.message as detail
    from checks
    cross join run_context
    where checks.check_name = 'freshness'
        and checks.status in ('warn', 'error')
)

select * from final
