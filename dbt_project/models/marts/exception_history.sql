-- BI contract: the lifecycle of every exception across runs, one row per exception_id:
-- first seen, last seen, resolved (the first later run that no longer sees it) and how long
-- it was open. Incremental: rows persist across runs; a run updates the exceptions it sees
-- and resolves the open ones it no longer sees, so re-running an as_of changes nothing.
{{ config(materialized='incremental', unique_key='exception_id',
          incremental_strategy='delete+insert', on_schema_change='append_new_columns') }}

with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

current_exceptions as (
    select * from {{ ref('exceptions') }}
),

previous as (
    {% if is_incremental() %}
    select * from {{ this }}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as exception_id,
        cast(null as {{ dbt.type_string() }}) as status,
        cast(null as date) as first_seen_as_of,
        cast(null as date) as last_seen_as_of,
        cast(null as date) as resolved_as_of
    where 1 = 0
    {% endif %}
),

seen as (
    select
        current_exceptions.exception_id,
        current_exceptions.exception_type,
        current_exceptions.sku,
        current_exceptions.location_id,
        case
            when previous.exception_id is null then run_context.as_of
            -- resolved before and back again: a new episode
            when previous.status = 'resolved' and previous.resolved_as_of <= run_context.as_of
                then run_context.as_of
            else least(previous.first_seen_as_of, run_context.as_of)
        end as first_seen_as_of,
        greatest(coalesce(previous.last_seen_as_of, run_context.as_of), run_context.as_of)
            as last_seen_as_of,
        cast(null as date) as resolved_as_of,
        'open' as status,
        current_exceptions.impact_value as last_impact_value,
        current_exceptions.reason as last_reason
    from current_exceptions
    cross join run_context
    left join previous on current_exceptions.exception_id = previous.exception_id
),

{% if is_incremental() %}
newly_resolved as (
    select
        previous.exception_id,
        previous.exception_type,
        previous.sku,
        previous.location_id,
        previous.first_seen_as_of,
        previous.last_seen_as_of,
        run_context.as_of as resolved_as_of,
        'resolved' as status,
        previous.last_impact_value,
        previous.last_reason
    from previous
    cross join run_context
    where previous.status = 'open'
        and previous.last_seen_as_of < run_context.as_of
        and previous.exception_id not in (select exception_id from current_exceptions)
),
{% endif %}

changed as (
    select * from seen
    {% if is_incremental() %}
    union all
    select * from newly_resolved
    {% endif %}
),

final as (
    select
        changed.*,
        {{ dbt.datediff('changed.first_seen_as_of',
                        'coalesce(changed.resolved_as_of, run_context.as_of)', 'day') }}
            as days_open
    from changed
    cross join run_context
)

select * from final
