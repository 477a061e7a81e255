-- Incremental: one row per as_of the weekly cycle has built, kept across runs: the calendar
-- of runs the exception lifecycle counts in (an exception not seen by a run is resolved).
{{ config(materialized='incremental', unique_key='as_of',
          incremental_strategy='delete+insert', on_schema_change='append_new_columns') }}

select as_of, week0_start
from {{ ref('stg_pipeline__run_context') }}
