-- Every landing file loaded so far, with its system / extract and whether the current as_of
-- sees it (extracted on or before as_of) and whether the current run read it (or read it
-- again: re-delivered under the same name with changed content).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

loaded_files as (
    select * from {{ source('pipeline', 'loaded_files') }}
),

final as (
    select
        {{ dbt.split_part('loaded_files.extract', "'__'", 1) }} as system,
        {{ dbt.split_part('loaded_files.extract', "'__'", 2) }} as extract,
        loaded_files.source_file,
        loaded_files.extracted_at,
        loaded_files.loaded_at,
        loaded_files.rows_read,
        loaded_files.rows_loaded,
        loaded_files.rows_rejected,
        loaded_files.reloaded_at,
        loaded_files.replaced_first_date,
        loaded_files.replaced_last_date,
        loaded_files.extracted_at < run_context.files_visible_before as is_visible,
        loaded_files.loaded_at >= run_context.started_at as is_read_by_run,
        coalesce(loaded_files.reloaded_at >= run_context.started_at, false) as is_reloaded_by_run
    from loaded_files
    cross join run_context
)

select * from final
