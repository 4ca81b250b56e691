-- One row per UTC hour with at least one clickstream event (deduplicated); empty without events.
-- Event counts are by the hour the event occurred; session metrics are by the hour the session
-- started (its first event), each session counted once, with whatever it did afterwards:
--   add_to_cart_rate         = sessions_with_add_to_cart / sessions_started
--   checkout_rate            = sessions_with_checkout / sessions_started
--   purchase_conversion_rate = sessions_with_purchase / sessions_started
-- (null when no session started in the hour).
with events as (

    select * from {{ ref('stg_clickstream__events') }}

),

sessions as (

    select * from {{ ref('int_sessions__aggregated_events') }}

),

event_counts as (

    select
        {{ sandbox.utc_truncate('hour', 'occurred_at') }} as event_hour,
        count(*) as events,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_carts,
        sum(case when event_type = 'checkout' then 1 else 0 end) as checkouts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases,
        sum(case when event_type = 'purchase' then quantity * price else 0 end) as purchase_revenue,
        count(distinct session_id) as active_sessions,
        max(arrived_at) as last_arrived_at

    from events
    group by 1

),

session_counts as (

    select
        {{ sandbox.utc_truncate('hour', 'started_at') }} as session_hour,
        count(*) as sessions_started,
        sum(case when has_add_to_cart then 1 else 0 end) as sessions_with_add_to_cart,
        sum(case when has_checkout then 1 else 0 end) as sessions_with_checkout,
        sum(case when has_purchase then 1 else 0 end) as sessions_with_purchase

    from sessions
    group by 1

),

joined as (

    select
        event_counts.*,
        coalesce(session_counts.sessions_started, 0) as sessions_started,
        coalesce(session_counts.sessions_with_add_to_cart, 0) as sessions_with_add_to_cart,
        coalesce(session_counts.sessions_with_checkout, 0) as sessions_with_checkout,
        coalesce(session_counts.sessions_with_purchase, 0) as sessions_with_purchase

    from event_counts
    left join session_counts
        on event_counts.event_hour = session_counts.session_hour

)

select
    event_hour,
    cast(events as {{ dbt.type_bigint() }}) as events,
    cast(page_views as {{ dbt.type_bigint() }}) as page_views,
    cast(add_to_carts as {{ dbt.type_bigint() }}) as add_to_carts,
    cast(checkouts as {{ dbt.type_bigint() }}) as checkouts,
    cast(purchases as {{ dbt.type_bigint() }}) as purchases,
    {{ sandbox.money('coalesce(purchase_revenue, 0)') }} as purchase_revenue,
    cast(active_sessions as {{ dbt.type_bigint() }}) as active_sessions,
    cast(sessions_started as {{ dbt.type_bigint() }}) as sessions_started,
    cast(sessions_with_add_to_cart as {{ dbt.type_bigint() }}) as sessions_with_add_to_cart,
    cast(sessions_with_checkout as {{ dbt.type_bigint() }}) as sessions_with_checkout,
    cast(sessions_with_purchase as {{ dbt.type_bigint() }}) as sessions_with_purchase,
    {{ sandbox.safe_ratio('sessions_with_add_to_cart', 'sessions_started') }} as add_to_cart_rate,
    {{ sandbox.safe_ratio('sessions_with_checkout', 'sessions_started') }} as checkout_rate,
    {{ sandbox.safe_ratio('sessions_with_purchase', 'sessions_started') }} as purchase_conversion_rate,
    last_arrived_at

from joined
