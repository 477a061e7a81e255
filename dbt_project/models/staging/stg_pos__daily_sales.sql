-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Point-of-sale daily sales per store and SKU.
{{ latest_events(source('pos', 'daily_sales'), ['business_date', 'location_id', 'sku']) }}
