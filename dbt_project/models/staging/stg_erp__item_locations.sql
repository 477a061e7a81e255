-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Planning parameters per SKU-location; defines the SKU-locations that S&OE manages.
{{ latest_snapshot(source('erp', 'item_locations')) }}
