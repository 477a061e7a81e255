-- Open supply that is late: a PO line past due or whose due date slipped, a production order
-- past its planned finish. One exception per supply line; impact is the sales at risk of the
-- stockout it feeds (0 when the SKU-location has none).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

supply as (
    select * from {{ ref('int_open_supply') }}
),

stockouts as (
    select sku, location_id, max(exception_units) as shortage_units
    from {{ ref('int_exceptions__projection') }}
    where exception_type = 'projected_stockout'
    group by sku, location_id
),

sku_locations as (
    select * from {{ ref('int_sku_locations') }}
),

late as (
    select supply.*
    from supply
    where supply.supply_type in ('purchase_order', 'production_order')
        and (supply.is_past_due or supply.days_slipped > 0)
),

final as (
    select
        'late_supply' as exception_type,
        late.sku,
        late.location_id,
        {{ dbt.concat(['late.sku', "'@'", 'late.location_id', "'#'", 'late.reference_id']) }}
            as subject_key,
        1 as occurrence,
        late.week_index as first_week_index,
        late.week_index as last_week_index,
        cast({{ dbt.dateadd('day', '7 * late.week_index', 'run_context.week0_start') }} as date)
            as first_week_start,
        cast({{ dbt.dateadd('day', '7 * late.week_index', 'run_context.week0_start') }} as date)
            as last_week_start,
        1 as weeks_affected,
        late.open_units as exception_units,
        -- least() skips nulls in DuckDB: no stockout must mean no impact, not all open units.
        least(late.open_units, coalesce(stockouts.shortage_units, 0)) * sku_locations.unit_price
            as impact_value,
        case when late.is_past_due then 'due_date' else 'original_due_date' end as threshold_name,
        cast(late.days_slipped as double) as threshold_value,
        cast({{ dbt.datediff('late.due_date', 'run_context.as_of', 'day') }} as double)
            as driver_value,
        {{ dbt.concat([
            "case when late.supply_type = 'purchase_order' then 'PO ' else 'Production order ' end",
            'late.reference_id',
            "case when late.is_past_due then ' is past due since ' else ' slipped to ' end",
            'cast(late.due_date as ' ~ dbt.type_string() ~ ')',
            "case when late.days_slipped > 0 then ' (' || cast(late.days_slipped as "
                ~ dbt.type_string() ~ ") || ' days later than first promised)' else '' end",
        ]) }} as detail
    from late
    cross join run_context
    inner join sku_locations
        on late.sku = sku_locations.sku
        and late.location_id = sku_locations.location_id
    left join stockouts
        on late.sku = stockouts.sku
        and late.location_id = stockouts.location_id
)

select * from final
