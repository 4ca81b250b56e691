-- One row per customer (with or without orders): what they ordered over their lifetime.
-- Only revenue orders (order_status <> 'cancelled') count toward first/last order, the cohort
-- and lifetime revenue; cancelled and returned orders are counted separately.
--   cohort_month = first day of the UTC calendar month of the customer's first revenue order
with customers as (

    select * from {{ ref('stg_shop__customers') }}

),

orders as (

    select * from {{ ref('int_orders__joined_items_payments') }}

),

history as (

    select
        customer_id,
        count(*) as orders_placed,
        sum(case when is_revenue then 1 else 0 end) as lifetime_orders,
        sum(case when order_status = 'cancelled' then 1 else 0 end) as cancelled_orders,
        sum(case when order_status = 'returned' then 1 else 0 end) as returned_orders,
        min(case when is_revenue then ordered_at end) as first_order_at,
        max(case when is_revenue then ordered_at end) as last_order_at,
        sum(revenue) as lifetime_revenue,
        sum(case when order_status = 'returned' then net_amount else 0 end) as returned_revenue

    from orders
    group by customer_id

)

select
    customers.customer_id,
    cast(coalesce(history.orders_placed, 0) as {{ dbt.type_bigint() }}) as orders_placed,
    cast(coalesce(history.lifetime_orders, 0) as {{ dbt.type_bigint() }}) as lifetime_orders,
    cast(coalesce(history.cancelled_orders, 0) as {{ dbt.type_bigint() }}) as cancelled_orders,
    cast(coalesce(history.returned_orders, 0) as {{ dbt.type_bigint() }}) as returned_orders,
    history.first_order_at,
    history.last_order_at,
    {{ sandbox.utc_month('history.first_order_at') }} as cohort_month,
    {{ sandbox.money('coalesce(history.lifetime_revenue, 0)') }} as lifetime_revenue,
    {{ sandbox.money('coalesce(history.returned_revenue, 0)') }} as returned_revenue

from customers
left join history
    on customers.customer_id = history.customer_id
