-- Event landing files skipped because their content was already loaded under another name,
-- flagged when the current run saw them first.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

skipped_files as (
    select * from {{ source('pipeline', 'skipped_files') }}
),

final as (
    select
        {{ dbt.split_part('skipped_files.extract', "'__'", 1) }} as system,
        {{ dbt.split_part('skipped_files.extract', "'__'", 2) }} as extract,
        skipped_files.source_file,
        skipped_files.duplicate_of,
        skipped_files.extracted_at,
        skipped_files.skipped_at >= run_context.started_at as is_skipped_by_run
    from skipped_files
    cross join run_context
)

select * from final
