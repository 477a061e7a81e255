-- The lifecycle of every exception across runs, one row per exception x episode: an episode
-- runs from the first run that raises the exception to the last run in a row that still
-- does; a run that no longer raises it, or a planner's `close`, ends it, and a later run that
-- raises it again starts a new one (reopened). Planners' decisions (int_decisions) belong to
-- the episode in which they were made; accepted actions (int_accepted_actions) hold an episode
-- `in_action` until the source systems show them. Built from the runs up to this as_of only,
-- so re-running an as_of with the same decisions gives the same rows.
--
-- status: new / reopened (raised, no decision yet; reopened from the second episode on),
-- acknowledged (any decision), snoozed (hidden by a snooze, see exceptions.is_snoozed),
-- in_action (an accepted action pending), then, once no run raises it any more,
-- resolved_by_action (an accepted action was carried out), resolved_by_itself, or
-- closed_by_planner (a `close` decision).
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

runs as (
    select
        runs.as_of,
        row_number() over (order by runs.as_of) as run_number,
        lead(runs.as_of) over (order by runs.as_of) as next_run_as_of
    from {{ ref('int_cycle_runs') }} as runs
    cross join run_context
    where runs.as_of <= run_context.as_of
),

decisions as (
    select * from {{ ref('int_decisions') }}
    where decision_status = 'applied'
),

closes as (
    select exception_id, decided_on from decisions where decision = 'close'
),

sighted as (
    select
        sightings.exception_id,
        sightings.as_of,
        sightings.exception_type,
        sightings.sku,
        sightings.location_id,
        sightings.impact_value,
        sightings.reason,
        runs.run_number,
        lag(runs.run_number) over (
            partition by sightings.exception_id order by sightings.as_of) as previous_run_number,
        lag(sightings.as_of) over (
            partition by sightings.exception_id order by sightings.as_of) as previous_as_of
    from {{ ref('int_exception_sightings') }} as sightings
    inner join runs on sightings.as_of = runs.as_of
),

breaks as (
    select
        sighted.*,
        case
            when sighted.previous_run_number is null then 1
            when sighted.previous_run_number < sighted.run_number - 1 then 1
            when exists (
                select 1 from closes
                where closes.exception_id = sighted.exception_id
                    and closes.decided_on >= sighted.previous_as_of
                    and closes.decided_on < sighted.as_of
            ) then 1
            else 0
        end as starts_episode
    from sighted
),

numbered as (
    select
        breaks.*,
        cast(sum(breaks.starts_episode) over (
            partition by breaks.exception_id order by breaks.as_of
            rows between unbounded preceding and current row
        ) as bigint) as episode_number
    from breaks
),

spans as (
    select
        exception_id,
        episode_number,
        min(as_of) as first_seen_as_of,
        max(as_of) as last_seen_as_of,
        count(*) as runs_seen
    from numbered
    group by exception_id, episode_number
),

episodes as (
    select
        spans.*,
        numbered.exception_type,
        numbered.sku,
        numbered.location_id,
        numbered.impact_value as last_impact_value,
        numbered.reason as last_reason,
        runs.next_run_as_of as first_run_without,
        lead(spans.first_seen_as_of) over (
            partition by spans.exception_id order by spans.episode_number) as next_first_seen_as_of,
        spans.episode_number = max(spans.episode_number) over (partition by spans.exception_id)
            as is_latest_episode
    from spans
    inner join numbered
        on spans.exception_id = numbered.exception_id
        and spans.last_seen_as_of = numbered.as_of
    inner join runs on spans.last_seen_as_of = runs.as_of
),

-- Each decision in the episode it was made in: on or after the episode's first run, before
-- the next episode's.
episode_decisions as (
    select
        episodes.exception_id,
        episodes.episode_number,
        decisions.decision_id,
        decisions.decided_at,
        decisions.decision,
        decisions.owner,
        decisions.note,
        decisions.snooze_until
    from episodes
    inner join decisions
        on episodes.exception_id = decisions.exception_id
        and decisions.decided_on >= episodes.first_seen_as_of
        and (episodes.next_first_seen_as_of is null
             or decisions.decided_on < episodes.next_first_seen_as_of)
),

decided as (
    select
        exception_id,
        episode_number,
        min(decided_at) as acknowledged_at,
        min(case when decision = 'close' then decided_at end) as closed_at,
        max(case when decision = 'snooze' then decided_at end) as snoozed_at,
        count(*) as decisions
    from episode_decisions
    group by exception_id, episode_number
),

-- The latest decision, the latest owner, note and snooze date given, per episode.
latest_words as (
    select
        exception_id,
        episode_number,
        max(case when decision_rank = 1 then decision end) as last_decision,
        max(case when owner_rank = 1 then owner end) as owner,
        max(case when note_rank = 1 then note end) as last_note,
        max(case when snooze_rank = 1 then snooze_until end) as snoozed_until
    from (
        select
            episode_decisions.*,
            row_number() over (partition by exception_id, episode_number
                               order by decided_at desc, decision_id desc) as decision_rank,
            {{ latest_where('owner is not null') }} as owner_rank,
            {{ latest_where('note is not null') }} as note_rank,
            {{ latest_where("decision = 'snooze'") }} as snooze_rank
        from episode_decisions
    ) as ranked
    group by exception_id, episode_number
),

-- Accepted actions per episode: their state in this run and the first run in which each was
-- no longer pending.
accepted as (
    select * from {{ ref('int_accepted_actions') }}
),

action_done as (
    select action_id, min(as_of) as done_as_of
    from accepted
    where action_state <> 'pending'
    group by action_id
),

episode_actions as (
    select
        episodes.exception_id,
        episodes.episode_number,
        min(current_actions.accepted_at) as in_action_since,
        sum(case when current_actions.action_state = 'pending' then 1 else 0 end) as pending_actions,
        sum(case when current_actions.action_state = 'executed' then 1 else 0 end) as executed_actions,
        max(action_done.done_as_of) as actions_done_as_of,
        {{ ordered_listagg('current_actions.action_id', "','", ['current_actions.action_id']) }}
            as accepted_action_ids
    from episodes
    cross join run_context
    inner join accepted as current_actions
        on current_actions.as_of = run_context.as_of
        and {{ dbt.concat(["','", 'current_actions.exception_ids', "','"]) }}
            like {{ dbt.concat(["'%,'", 'episodes.exception_id', "',%'"]) }}
        and cast(current_actions.accepted_at as date) >= episodes.first_seen_as_of
        and (episodes.next_first_seen_as_of is null
             or cast(current_actions.accepted_at as date) < episodes.next_first_seen_as_of)
    left join action_done on current_actions.action_id = action_done.action_id
    group by episodes.exception_id, episodes.episode_number
),

snoozed_now as (
    select exception_id from {{ ref('exceptions') }} where is_snoozed
),

judged as (
    select
        episodes.*,
        decided.acknowledged_at,
        decided.closed_at,
        decided.snoozed_at,
        coalesce(decided.decisions, 0) as decisions,
        latest_words.last_decision,
        latest_words.owner,
        latest_words.last_note,
        latest_words.snoozed_until,
        episode_actions.in_action_since,
        episode_actions.accepted_action_ids,
        coalesce(episode_actions.pending_actions, 0) as pending_actions,
        coalesce(episode_actions.executed_actions, 0) as executed_actions,
        episode_actions.actions_done_as_of,
        episodes.is_latest_episode and episodes.last_seen_as_of = run_context.as_of as is_seen_now,
        snoozed_now.exception_id is not null as is_snoozed_now
    from episodes
    cross join run_context
    left join decided
        on episodes.exception_id = decided.exception_id
        and episodes.episode_number = decided.episode_number
    left join latest_words
        on episodes.exception_id = latest_words.exception_id
        and episodes.episode_number = latest_words.episode_number
    left join episode_actions
        on episodes.exception_id = episode_actions.exception_id
        and episodes.episode_number = episode_actions.episode_number
    left join snoozed_now
        on episodes.exception_id = snoozed_now.exception_id
        and episodes.is_latest_episode
),

statused as (
    select
        judged.*,
        case
            when judged.closed_at is not null then 'closed_by_planner'
            when judged.pending_actions > 0 then 'in_action'
            when not judged.is_seen_now and judged.executed_actions > 0 then 'resolved_by_action'
            when not judged.is_seen_now then 'resolved_by_itself'
            when judged.is_snoozed_now then 'snoozed'
            when judged.acknowledged_at is not null then 'acknowledged'
            when judged.episode_number > 1 then 'reopened'
            else 'new'
        end as status
    from judged
),

final as (
    select
        statused.exception_id,
        statused.episode_number,
        statused.exception_type,
        statused.sku,
        statused.location_id,
        statused.first_seen_as_of,
        statused.last_seen_as_of,
        statused.runs_seen,
        case
            when statused.status = 'closed_by_planner' then cast(statused.closed_at as date)
            when statused.status = 'resolved_by_action'
                then greatest(statused.first_run_without, statused.actions_done_as_of)
            when statused.status = 'resolved_by_itself' then statused.first_run_without
        end as resolved_as_of,
        statused.status,
        statused.is_latest_episode,
        statused.episode_number > 1 as is_reopened,
        statused.acknowledged_at,
        statused.owner,
        statused.last_decision,
        statused.last_note,
        statused.decisions,
        statused.snoozed_at,
        statused.snoozed_until,
        statused.in_action_since,
        statused.accepted_action_ids,
        statused.closed_at,
        statused.last_impact_value,
        statused.last_reason
    from statused
)

select * from final
