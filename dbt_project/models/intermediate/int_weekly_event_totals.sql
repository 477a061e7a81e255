-- Weekly totals of the two daily event extracts that measure demand, per SKU-location and
-- week, over every visible file: POS units sold net of returns ('pos') and shipped units
-- ('shipments'), newest version of each row (a later file corrects an earlier one).
--
-- Incremental, so that a weekly cycle reads a week of new rows rather than two years of POS:
-- a run deletes and recomputes only the weeks in int_demand_event_weeks, both sources for
-- each; a shipment's versions are de-duplicated together, wherever they fall. The post-hook
-- records the files this build reflects in `<this>__files` for the next run's
-- int_demand_event_weeks.
{{ config(
    materialized='incremental',
    post_hook="{{ replace_table_as(this.incorporate(path={'identifier': this.identifier ~ '__files'}),
                                   demand_event_files()) }}",
    **incremental_config(unique_key=none, partition_by=['week_start'],
        delete_where="week_start in (select week_start from {{ ref('int_demand_event_weeks') }})")
) }}
-- depends_on: {{ ref('stg_pipeline__loaded_files') }}

{% if is_incremental() %}
{% set pos_rows = in_weeks('business_date') %}
{% set shipment_rows = "shipment_id in (select shipment_id from " ~ source('wms', 'shipments')
    ~ " where " ~ in_weeks('ship_date') ~ ")" %}
{% else %}
{% set pos_rows = none %}
{% set shipment_rows = none %}
{% endif %}

with weeks as (
    select * from {{ ref('int_demand_event_weeks') }}
),

pos as (
    {{ latest_events(source('pos', 'daily_sales'), ['business_date', 'location_id', 'sku'],
                     where=pos_rows, partition='business_date') }}
),

shipments as (
    {{ latest_events(source('wms', 'shipments'), ['shipment_id'], where=shipment_rows) }}
),

final as (
    select
        'pos' as source,
        sku,
        location_id,
        cast({{ dbt.date_trunc('week', 'business_date') }} as date) as week_start,
        sum(units_sold) as units
    from pos
    group by all
    union all
    select
        'shipments' as source,
        sku,
        location_id,
        cast({{ dbt.date_trunc('week', 'ship_date') }} as date) as week_start,
        sum(shipped_units) as units
    from shipments
    group by all
)

select * from final
{% if is_incremental() %}
where {{ in_weeks('week_start') }}
{% endif %}
