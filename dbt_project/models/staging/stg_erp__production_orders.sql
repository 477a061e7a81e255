-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Production orders at plants.
{{ latest_snapshot(source('erp', 'production_orders')) }}
