-- BI contract: S&OE KPIs per week x KPI x dimension (total, location, product_family).
-- Flow KPIs (service, attainment, forecast accuracy, exception flow) for the completed weeks
-- this run can see; stock KPIs (inventory value, days of supply, record accuracy) for the
-- as_of week. Incremental: each run upserts the weeks it computes, so stock KPIs of earlier
-- runs stay and trends build up; re-running an as_of gives the same rows.
{{ config(materialized='incremental', on_schema_change='append_new_columns',
          **incremental_config(unique_key=['week_start', 'kpi', 'dimension', 'dimension_value'],
                               partition_by=['week_start', 'kpi'])) }}
{%- set dimensions = {'total': "'all'", 'location': 'location_id', 'product_family': 'product_family'} %}

with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

order_lines as (
    select order_lines.*, order_lines.due_week_start as week_start
    from {{ ref('int_order_line_service') }} as order_lines
    cross join run_context
    where order_lines.due_week_start < run_context.week0_start
),

production as (
    select
        production_orders.location_id,
        coalesce(sku_locations.product_family, 'unknown') as product_family,
        cast({{ dbt.date_trunc('week', 'production_orders.planned_finish_date') }} as date) as week_start,
        production_orders.planned_units,
        least(production_orders.completed_units, production_orders.planned_units) as completed_units
    from {{ ref('stg_erp__production_orders') }} as production_orders
    cross join run_context
    left join sku_locations
        on production_orders.sku = sku_locations.sku
        and production_orders.location_id = sku_locations.location_id
    where production_orders.status != 'cancelled'
        and production_orders.planned_units > 0
        and production_orders.planned_finish_date < run_context.week0_start
),

-- Every episode of every exception (int_exception_episodes), earlier episodes included.
history as (
    select
        episodes.*,
        coalesce(episodes.location_id, 'none') as location_key,
        coalesce(sku_locations.product_family, 'unknown') as product_family
    from {{ ref('int_exception_episodes') }} as episodes
    left join sku_locations
        on episodes.sku = sku_locations.sku
        and episodes.location_id = sku_locations.location_id
),

opened as (
    select
        cast({{ dbt.date_trunc('week', 'first_seen_as_of') }} as date) as week_start,
        location_key as location_id,
        product_family,
        case when is_reopened then cast(1 as double) else cast(0 as double) end as is_reopened
    from history
),

resolved as (
    select
        cast({{ dbt.date_trunc('week', 'resolved_as_of') }} as date) as week_start,
        location_key as location_id,
        product_family,
        {{ dbt.datediff('first_seen_as_of', 'resolved_as_of', 'day') }} as resolution_days,
        case when status = 'resolved_by_action' then cast(1 as double) else cast(0 as double) end as by_action,
        case when status = 'resolved_by_itself' then cast(1 as double) else cast(0 as double) end as by_itself
    from history
    where resolved_as_of is not null
),

acknowledged as (
    select
        cast({{ dbt.date_trunc('week', 'acknowledged_at') }} as date) as week_start,
        location_key as location_id,
        product_family,
        {{ dbt.datediff('first_seen_as_of', 'cast(acknowledged_at as date)', 'day') }}
            as acknowledge_days
    from history
    where acknowledged_at is not null
),

open_now as (
    select
        run_context.week0_start as week_start,
        history.location_key as location_id,
        history.product_family,
        case when history.owner is null then cast(1 as double) else cast(0 as double) end as has_no_owner
    from history
    cross join run_context
    where history.is_latest_episode and history.resolved_as_of is null
),

stock as (
    select
        run_context.week0_start as week_start,
        positions.location_id,
        coalesce(sku_locations.product_family, 'unknown') as product_family,
        positions.usable_on_hand_units,
        positions.usable_on_hand_units * sku_locations.unit_cost as inventory_value,
        cover.horizon_demand_units,
        case when positions.is_record_mismatch then cast(0 as double) else cast(1 as double) end as is_accurate
    from {{ ref('int_inventory_positions') }} as positions
    cross join run_context
    inner join sku_locations
        on positions.sku = sku_locations.sku
        and positions.location_id = sku_locations.location_id
    left join {{ ref('int_inventory_cover') }} as cover
        on positions.sku = cover.sku
        and positions.location_id = cover.location_id
),

accuracy as (
    select * from {{ ref('forecast_accuracy') }}
    where dimension in ('total', 'location', 'product_family')
),

kpis as (
    {%- for dimension, value in dimensions.items() %}
    {%- set group_by = 'group by week_start' ~ ('' if dimension == 'total' else ', ' ~ value) %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select week_start, 'otif' as kpi, '{{ dimension }}' as dimension, {{ value }} as dimension_value,
        avg(case when is_in_full and is_on_time then cast(1 as double) else cast(0 as double) end) as value, count(*) as basis
    from order_lines {{ group_by }}
    union all
    select week_start, 'unit_fill_rate', '{{ dimension }}', {{ value }},
        sum(least(shipped_units, ordered_units)) / sum(ordered_units), count(*)
    from order_lines {{ group_by }}
    union all
    select week_start, 'schedule_attainment', '{{ dimension }}', {{ value }},
        sum(completed_units) / sum(planned_units), count(*)
    from production {{ group_by }}
    union all
    select week_start, 'exceptions_opened', '{{ dimension }}', {{ value }}, count(*), count(*)
    from opened {{ group_by }}
    union all
    select week_start, 'exceptions_resolved', '{{ dimension }}', {{ value }}, count(*), count(*)
    from resolved {{ group_by }}
    union all
    select week_start, 'median_resolution_days', '{{ dimension }}', {{ value }},
        median(resolution_days), count(*)
    from resolved {{ group_by }}
    union all
    select week_start, 'resolved_by_action_share', '{{ dimension }}', {{ value }}, avg(by_action), count(*)
    from resolved {{ group_by }}
    union all
    select week_start, 'resolved_by_itself_share', '{{ dimension }}', {{ value }}, avg(by_itself), count(*)
    from resolved {{ group_by }}
    union all
    select week_start, 'reopen_rate', '{{ dimension }}', {{ value }}, avg(is_reopened), count(*)
    from opened {{ group_by }}
    union all
    select week_start, 'median_days_to_acknowledge', '{{ dimension }}', {{ value }},
        median(acknowledge_days), count(*)
    from acknowledged {{ group_by }}
    union all
    select week_start, 'open_without_owner', '{{ dimension }}', {{ value }}, sum(has_no_owner), count(*)
    from open_now {{ group_by }}
    union all
    select week_start, 'inventory_value', '{{ dimension }}', {{ value }}, sum(inventory_value), count(*)
    from stock {{ group_by }}
    union all
    select week_start, 'days_of_supply', '{{ dimension }}', {{ value }},
        sum(usable_on_hand_units) / nullif(sum(horizon_demand_units) / ({{ var('horizon_weeks') }} * 7), 0),
        count(*)
    from stock {{ group_by }}
    union all
    select week_start, 'inventory_record_accuracy', '{{ dimension }}', {{ value }}, avg(is_accurate), count(*)
    from stock {{ group_by }}
    {%- endfor %}
),

forecast_kpis as (
    {%- for kpi in ['plan_wape', 'plan_bias', 'sensed_wape', 'sensed_bias'] %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select week_start, '{{ kpi }}' as kpi, dimension, dimension_value, {{ kpi }} as value, sku_locations as basis
    from accuracy
    {%- endfor %}
),

final as (
    select
        kpis.week_start,
        kpis.kpi,
        kpis.dimension,
        cast(kpis.dimension_value as {{ dbt.type_string() }}) as dimension_value,
        cast(kpis.value as double) as value,
        cast(kpis.basis as bigint) as basis,
        run_context.as_of as computed_as_of
    from (select * from kpis union all select * from forecast_kpis) as kpis
    cross join run_context
    where kpis.value is not null and kpis.dimension_value is not null
)

select * from final
