-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Inbound receipts against purchase order lines.
{{ latest_events(source('wms', 'receipts'), ['receipt_id']) }}
