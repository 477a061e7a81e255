-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Item master from the ERP.
{{ latest_snapshot(source('erp', 'items')) }}
