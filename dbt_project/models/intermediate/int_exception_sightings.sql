-- Every exception each run saw, one row per as_of x exception, kept across runs: the record
-- S&OP feedback reads to find problems that keep coming back. Incremental: a re-run of an
-- as_of replaces that as_of's rows.
{{ config(materialized='incremental', on_schema_change='append_new_columns',
          **incremental_config(unique_key='as_of', partition_by=['as_of'])) }}

with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

exceptions as (
    select * from {{ ref('exceptions') }}
),

final as (
    select
        run_context.as_of,
        run_context.week0_start,
        exceptions.exception_id,
        exceptions.exception_type,
        exceptions.sku,
        exceptions.location_id,
        exceptions.product_family,
        exceptions.region,
        exceptions.impact_value,
        exceptions.escalate_to_sop,
        exceptions.reason
    from exceptions
    cross join run_context
)

select * from final
