-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Stock transfers between locations.
{{ latest_snapshot(source('wms', 'transfers')) }}
