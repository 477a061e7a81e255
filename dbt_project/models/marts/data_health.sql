-- BI contract: one row per extract and run (as_of): what was read, how fresh it is and what
-- the checks said. Incremental: earlier as_of dates are kept; re-running an as_of replaces its rows.
{{ config(materialized='incremental', on_schema_change='append_new_columns',
          **incremental_config(unique_key=['as_of', 'system', 'extract'], partition_by=['as_of'])) }}

with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

loaded_files as (
    select * from {{ ref('stg_pipeline__loaded_files') }}
),

checks as (
    select * from {{ ref('stg_pipeline__extract_checks') }}
),

skipped_files as (
    select * from {{ ref('stg_pipeline__skipped_files') }}
),

stale_locations as (
    select * from {{ ref('stg_pipeline__stale_locations') }}
),

extracts as (
    select distinct system, extract from loaded_files
    union
    select distinct system, extract from checks
),

file_totals as (
    select
        system,
        extract,
        count(case when is_read_by_run then 1 end) as files_read,
        count(case when is_reloaded_by_run then 1 end) as files_reloaded,
        count(case when is_visible then 1 end) as files_visible,
        max(case when is_visible then extracted_at end) as newest_extracted_at,
        cast(sum(case when is_read_by_run then rows_read else 0 end) as {{ dbt.type_bigint() }}) as rows_read,
        cast(sum(case when is_read_by_run then rows_loaded else 0 end) as {{ dbt.type_bigint() }}) as rows_loaded,
        cast(sum(case when is_read_by_run then rows_rejected else 0 end) as {{ dbt.type_bigint() }}) as rows_rejected
    from loaded_files
    group by system, extract
),

skipped_totals as (
    select system, extract, count(*) as files_skipped_duplicate
    from skipped_files
    where is_skipped_by_run
    group by system, extract
),

stale_location_totals as (
    select system, extract, count(*) as stale_locations
    from stale_locations
    group by system, extract
),

-- Rows loaded but rejected by a rule checked against earlier runs (planners' decisions on
-- unknown exceptions or actions: decision_log).
run_rule_rejects as (
    select
        'soe' as system,
        'decisions' as extract,
        count(*) as rows_rejected,
        min({{ dbt.concat(['decision_id', "': '", 'reject_reason']) }}) as example
    from {{ ref('int_decisions') }}
    where decision_status = 'rejected'
),

freshness as (
    select * from checks where check_name = 'freshness'
),

contract as (
    select * from checks where check_name = 'contract'
),

final as (
    select
        run_context.as_of,
        run_context.run_id,
        extracts.system,
        extracts.extract,
        coalesce(file_totals.files_read, 0) as files_read,
        coalesce(file_totals.files_reloaded, 0) as files_reloaded,
        coalesce(skipped_totals.files_skipped_duplicate, 0) as files_skipped_duplicate,
        coalesce(file_totals.files_visible, 0) as files_visible,
        coalesce(freshness.newest_extracted_at, file_totals.newest_extracted_at) as newest_extracted_at,
        freshness.newest_business_date,
        coalesce(file_totals.rows_read, 0) as rows_read,
        coalesce(file_totals.rows_loaded, 0) as rows_loaded,
        coalesce(file_totals.rows_rejected, 0) as rows_rejected,
        coalesce(freshness.status, 'not_checked') as freshness_status,
        coalesce(stale_location_totals.stale_locations, 0) as stale_locations,
        freshness.message as freshness_message,
        cast(coalesce(run_rule_rejects.rows_rejected, 0) as {{ dbt.type_bigint() }})
            as rows_rejected_by_run_rules,
        case
            when run_rule_rejects.rows_rejected > 0 and coalesce(contract.status, 'pass') = 'pass'
                then 'warn'
            else coalesce(contract.status, 'not_checked')
        end as check_status,
        case
            when run_rule_rejects.rows_rejected > 0
                then {{ dbt.concat([
                    "coalesce(contract.message, '')", "'; '",
                    dbt.cast('run_rule_rejects.rows_rejected', dbt.type_string()),
                    "' rejected against earlier runs (decision_log), e.g. '", 'run_rule_rejects.example'
                ]) }}
            else contract.message
        end as check_message
    from extracts
    cross join run_context
    left join file_totals
        on extracts.system = file_totals.system and extracts.extract = file_totals.extract
    left join freshness
        on extracts.system = freshness.system and extracts.extract = freshness.extract
    left join contract
        on extracts.system = contract.system and extracts.extract = contract.extract
    left join skipped_totals
        on extracts.system = skipped_totals.system and extracts.extract = skipped_totals.extract
    left join stale_location_totals
        on extracts.system = stale_location_totals.system
        and extracts.extract = stale_location_totals.extract
    left join run_rule_rejects
        on extracts.system = run_rule_rejects.system
        and extracts.extract = run_rule_rejects.extract
        and run_rule_rejects.rows_rejected > 0
)

select * from final
