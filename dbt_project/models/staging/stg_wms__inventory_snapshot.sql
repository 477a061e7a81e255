-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Physical stock per lot from the warehouse management system.
{{ latest_snapshot(source('wms', 'inventory_snapshot')) }}
