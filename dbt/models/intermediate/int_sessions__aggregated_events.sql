-- One row per clickstream session: when it started and ended, what it did, and how far down
-- the funnel (page_view -> add_to_cart -> checkout -> purchase) it got. Empty without events.
with events as (

    select * from {{ ref('stg_clickstream__events') }}

),

sessions as (

    select
        session_id,
        max(customer_id) as customer_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        count(*) as events,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_carts,
        sum(case when event_type = 'checkout' then 1 else 0 end) as checkouts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases,
        sum(case when event_type = 'purchase' then quantity * price else 0 end) as purchase_revenue

    from events
    group by session_id

)

select
    session_id,
    customer_id,
    customer_id is null as is_anonymous,
    started_at,
    ended_at,
    cast(events as {{ dbt.type_bigint() }}) as events,
    cast(page_views as {{ dbt.type_bigint() }}) as page_views,
    cast(add_to_carts as {{ dbt.type_bigint() }}) as add_to_carts,
    cast(checkouts as {{ dbt.type_bigint() }}) as checkouts,
    cast(purchases as {{ dbt.type_bigint() }}) as purchases,
    add_to_carts > 0 as has_add_to_cart,
    checkouts > 0 as has_checkout,
    purchases > 0 as has_purchase,
    {{ sandbox.money('coalesce(purchase_revenue, 0)') }} as purchase_revenue

from sessions
