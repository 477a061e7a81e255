-- Incremental: every action each run recommended (as_of x action_id, the rows of
-- recommended_actions), kept across runs with its weeks as dates, so a planner's decision on
-- an action of an earlier run can be checked and an accepted action carried into later runs'
-- projections. A re-run of an as_of replaces that as_of's rows.
{{ config(materialized='incremental', on_schema_change='append_new_columns',
          **incremental_config(unique_key='as_of', partition_by=['as_of'])) }}

select
    as_of,
    action_id,
    action_type,
    sku,
    from_location_id,
    to_location_id,
    reference_id,
    units,
    ship_week_start,
    arrival_week_start,
    resolves_exception_ids
from {{ ref('recommended_actions') }}
