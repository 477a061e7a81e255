-- Generated from assets/contracts by `python -m soe_pipeline.dbt_codegen`. Do not edit.
-- Outbound shipments against sales order lines.
{{ latest_events(source('wms', 'shipments'), ['shipment_id']) }}
