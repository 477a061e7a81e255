-- Locations whose daily feed (POS) went silent, as the current as_of's freshness checks found
-- them: one row per extract and location.
with run_context as (
    select * from {{ ref('stg_pipeline__run_context') }}
),

stale_locations as (
    select * from {{ source('pipeline', 'stale_locations') }}
),

final as (
    select
        stale_locations.system,
        stale_locations.extract,
        stale_locations.location_id,
        stale_locations.last_business_date
    from stale_locations
    inner join run_context on stale_locations.as_of = run_context.as_of
)

select * from final
