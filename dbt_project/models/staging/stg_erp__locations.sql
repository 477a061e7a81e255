-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Location master (plants, distribution centres, stores).
{{ latest_snapshot(source('erp', 'locations')) }}
