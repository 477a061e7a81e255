-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Customer order lines.
{{ latest_snapshot(source('erp', 'sales_orders')) }}
