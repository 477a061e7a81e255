-- BI contract: the lifecycle of every exception across runs, one row per exception_id: its
-- latest episode (int_exception_episodes), with its state, the time of each transition,
-- owner and last note. Rebuilt each run from the sightings of every run up to as_of and the
-- planners' decisions, so re-running an as_of with the same decisions changes nothing.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

episodes as (
    select * from {{ ref('int_exception_episodes') }}
),

final as (
    select
        episodes.exception_id,
        episodes.exception_type,
        episodes.sku,
        episodes.location_id,
        episodes.first_seen_as_of,
        episodes.last_seen_as_of,
        episodes.resolved_as_of,
        episodes.status,
        episodes.last_impact_value,
        episodes.last_reason,
        cast({{ dbt.datediff('episodes.first_seen_as_of',
                             'coalesce(episodes.resolved_as_of, run_context.as_of)', 'day') }}
            as bigint) as days_open,
        episodes.episode_number as episodes,
        episodes.is_reopened,
        episodes.acknowledged_at,
        episodes.owner,
        episodes.last_decision,
        episodes.last_note,
        episodes.snoozed_at,
        episodes.snoozed_until,
        episodes.in_action_since,
        episodes.accepted_action_ids,
        episodes.closed_at
    from episodes
    cross join run_context
    where episodes.is_latest_episode
)

select * from final
