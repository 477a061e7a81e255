-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Planners' decisions on exceptions and recommended actions, written by BI tools, a spreadsheet or `soe decide`. Optional: no file means no decisions yet, never stale.
{{ latest_events(source('soe', 'decisions'), ['decision_id']) }}
