-- Incremental: the actions planners accepted (soe/decisions) and their state in each run
-- (as_of x action_id), kept across runs for the exception lifecycle. An accepted action is
--   executed  when the source systems show it: a transfer in the transfers extract with the
--             same SKU, lane and units shipped since it was recommended; an expedite once the
--             order's due date is at or before the accepted week (or the order is no longer
--             open); an accepted escalation at once (nothing to firm up);
--   expired   when its arrival week has passed without that;
--   pending   otherwise: firm supply at the destination (and firm demand at a transfer's
--             donor, an earlier due date for an expedite) in this run's projection.
-- The action's details are those of the latest run before the decision that recommended it
-- (int_action_history, read as it stood before this build, as in int_decisions); units are
-- the decision's when the planner accepted other units. A later reject_action of the same
-- action for the same exception withdraws the acceptance.
{{ config(materialized='incremental', on_schema_change='append_new_columns',
          **incremental_config(unique_key='as_of', partition_by=['as_of'])) }}

with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

-- The latest word per exception and action is an accept (int_decisions).
latest_decisions as (
    select * from {{ ref('int_decisions') }}
    where is_latest_on_action and decision = 'accept_action'
),

accepted as (
    select
        action_id,
        min(decided_at) as accepted_at,
        max(units) as accepted_units,
        {{ ordered_listagg('exception_id', "','", ['exception_id']) }} as exception_ids
    from latest_decisions
    group by action_id
),

history as (
    {{ earlier_runs('int_action_history', {
        'as_of': 'date', 'action_id': dbt.type_string(), 'action_type': dbt.type_string(),
        'sku': dbt.type_string(), 'from_location_id': dbt.type_string(),
        'to_location_id': dbt.type_string(), 'reference_id': dbt.type_string(),
        'units': 'bigint', 'ship_week_start': 'date', 'arrival_week_start': 'date'}) }}
),

detailed as (
    select *
    from (
        select
            accepted.*,
            history.as_of as recommended_as_of,
            history.action_type,
            history.sku,
            history.from_location_id,
            history.to_location_id,
            history.reference_id,
            coalesce(accepted.accepted_units, history.units) as units,
            history.ship_week_start,
            history.arrival_week_start,
            row_number() over (partition by accepted.action_id order by history.as_of desc) as recency
        from accepted
        inner join history
            on accepted.action_id = history.action_id
            and history.as_of <= cast(accepted.accepted_at as date)
    ) as ranked
    where recency = 1
),

transfers as (
    select * from {{ ref('stg_wms__transfers') }}
),

executed_transfers as (
    select
        detailed.action_id,
        min(transfers.transfer_id) as executed_by
    from detailed
    inner join transfers
        on detailed.sku = transfers.sku
        and detailed.from_location_id = transfers.from_location_id
        and detailed.to_location_id = transfers.to_location_id
        and abs(detailed.units - transfers.units) < 0.5
        and transfers.ship_date >= cast({{ dbt.dateadd('day', -7, 'detailed.recommended_as_of') }} as date)
    where detailed.action_type = 'transfer'
    group by detailed.action_id
),

orders as (
    select
        {{ dbt.concat(['po_id', "'/'", 'cast(po_line as ' ~ dbt.type_string() ~ ')']) }} as reference_id,
        sku,
        location_id,
        current_due_date as due_date,
        status = 'open' and ordered_units > received_units as is_open
    from {{ ref('stg_erp__purchase_orders') }}
    union all
    select
        production_order_id as reference_id,
        sku,
        location_id,
        planned_finish_date as due_date,
        status in ('released', 'in_progress') and planned_units > completed_units as is_open
    from {{ ref('stg_erp__production_orders') }}
),

executed_expedites as (
    select
        detailed.action_id,
        min(orders.reference_id) as executed_by
    from detailed
    inner join orders
        on detailed.reference_id = orders.reference_id
        and detailed.sku = orders.sku
        and detailed.to_location_id = orders.location_id
    where detailed.action_type = 'expedite'
        and (not orders.is_open
             or orders.due_date < cast({{ dbt.dateadd('day', 7, 'detailed.arrival_week_start') }} as date))
    group by detailed.action_id
),

final as (
    select
        run_context.as_of,
        detailed.action_id,
        detailed.action_type,
        detailed.sku,
        detailed.from_location_id,
        detailed.to_location_id,
        detailed.reference_id,
        detailed.units,
        detailed.ship_week_start,
        detailed.arrival_week_start,
        detailed.recommended_as_of,
        detailed.accepted_at,
        detailed.exception_ids,
        case
            when detailed.action_type = 'escalation' then 'executed'
            when coalesce(executed_transfers.executed_by, executed_expedites.executed_by) is not null
                then 'executed'
            when detailed.arrival_week_start < run_context.week0_start then 'expired'
            else 'pending'
        end as action_state,
        coalesce(executed_transfers.executed_by, executed_expedites.executed_by) as executed_by
    from detailed
    cross join run_context
    left join executed_transfers on detailed.action_id = executed_transfers.action_id
    left join executed_expedites on detailed.action_id = executed_expedites.action_id
)

select * from final
