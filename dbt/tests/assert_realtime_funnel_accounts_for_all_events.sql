-- Every deduplicated event is counted in exactly one hour, and every session starts in exactly
-- one hour (both sides are 0 when the events table is empty).
with funnel as (

    select
        coalesce(sum(events), 0) as events,
        coalesce(sum(sessions_started), 0) as sessions
    from {{ ref('mart_realtime_funnel') }}

),

staged as (

    select
        count(*) as events,
        count(distinct session_id) as sessions
    from {{ ref('stg_clickstream__events') }}

)

select funnel.events, staged.events as staged_events, funnel.sessions, staged.sessions as staged_sessions
from funnel
cross join staged
where funnel.events <> staged.events or funnel.sessions <> staged.sessions
