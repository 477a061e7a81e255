-- Incremental: one row per as_of a run built the marts for (weekly cycles and daily sensing
-- refreshes alike), kept across runs: the calendar of runs the exception lifecycle counts in
-- (an exception that a run does not raise ends its episode).
{{ config(materialized='incremental', on_schema_change='append_new_columns',
          **incremental_config(unique_key='as_of', partition_by=['as_of'])) }}

select as_of, week0_start
from {{ ref('stg_pipeline__run_context') }}
