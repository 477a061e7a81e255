-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Purchase order lines.
{{ latest_snapshot(source('erp', 'purchase_orders')) }}
