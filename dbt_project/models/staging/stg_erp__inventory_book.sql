-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- ERP book inventory per SKU-location.
{{ latest_snapshot(source('erp', 'inventory_book')) }}
