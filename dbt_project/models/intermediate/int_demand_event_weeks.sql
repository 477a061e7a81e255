-- The weeks whose demand event totals (int_weekly_event_totals) this run recomputes: weeks
-- touched by POS or shipment files whose visibility changed since that model's last build
-- (newly loaded, or hidden again by an earlier as_of), plus every week of a shipment in such a
-- file (a correction can move a shipment to another week). A file re-delivered with changed
-- content under the same name is loaded again (new loaded_at): the weeks of the rows it replaced
-- are recomputed too, since its new rows may no longer reach them. With no record of the last
-- build (or one from before loaded_at was recorded), every week of every loaded row.
-- depends_on: {{ ref('stg_pipeline__loaded_files') }}
{% set reflected_files = adapter.get_relation(this.database, this.schema, 'int_weekly_event_totals__files') %}
{% set event_totals = adapter.get_relation(this.database, this.schema, 'int_weekly_event_totals') %}
{% if reflected_files is not none and execute %}
    {% set reflected_columns = adapter.get_columns_in_relation(reflected_files) | map(attribute='name') | list %}
    {% if 'loaded_at' not in reflected_columns or event_totals is none %}
        {% set reflected_files = none %}
    {% endif %}
{% endif %}

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

loaded_files as (
    select * from {{ ref('stg_pipeline__loaded_files') }}
),

replaced_ranges as (
    select
        cast({{ dbt.date_trunc('week', 'loaded_files.replaced_first_date') }} as date) as first_week_start,
        loaded_files.replaced_last_date
    from loaded_files
    inner join changed_files
        on loaded_files.extract = changed_files.extract
        and loaded_files.source_file = changed_files.source_file
        and loaded_files.system = changed_files.system
    where loaded_files.replaced_first_date is not null
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
    union
    select event_totals.week_start
    from {{ event_totals }} as event_totals
    inner join replaced_ranges
        on event_totals.week_start >= replaced_ranges.first_week_start
        and event_totals.week_start <= replaced_ranges.replaced_last_date
)
{%- endif %}

select * from final
