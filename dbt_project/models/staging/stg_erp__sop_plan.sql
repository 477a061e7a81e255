-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- S&OP demand plan versions disaggregated to SKU-location-week; the latest committed version is the committed plan.
{{ latest_snapshot(source('erp', 'sop_plan')) }}
