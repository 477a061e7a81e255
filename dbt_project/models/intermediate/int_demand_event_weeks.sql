-- The weeks whose demand event totals (int_weekly_event_totals) this run recomputes: weeks
-- touched by POS or shipment files whose visibility changed since that model's last build
-- (newly loaded, or hidden again by an earlier as_of), plus every week of a shipment in such a
-- file (a correction can move a shipment to another week). With no record of the last build,
-- every week of every loaded row.
-- depends_on: {{ ref('stg_pipeline__loaded_files') }}
{% set reflected_files = adapter.get_relation(this.database, this.schema, 'int_weekly_event_totals__files') %}

{%- if reflected_files is none %}
with final as (
    select cast({{ dbt.date_trunc('week', 'business_date') }} as date) as week_start
    from {{ source('pos', 'daily_sales') }}
    union
    select cast({{ dbt.date_trunc('week', 'ship_date') }} as date) as week_start
    from {{ source('wms', 'shipments') }}
)
{%- else %}
with visible_files as (
    {{ demand_event_files() }}
),

changed_files as (
    (select * from visible_files except select * from {{ reflected_files }})
    union all
    (select * from {{ reflected_files }} except select * from visible_files)
),

changed_shipment_ids as (
    select distinct shipment_id
    from {{ source('wms', 'shipments') }}
    where {{ from_files('changed_files', 'wms') }}
),

final as (
    select cast({{ dbt.date_trunc('week', 'business_date') }} as date) as week_start
    from {{ source('pos', 'daily_sales') }}
    where {{ from_files('changed_files', 'pos') }}
    union
    select cast({{ dbt.date_trunc('week', 'ship_date') }} as date) as week_start
    from {{ source('wms', 'shipments') }}
    where shipment_id in (select shipment_id from changed_shipment_ids)
)
{%- endif %}

select * from final
