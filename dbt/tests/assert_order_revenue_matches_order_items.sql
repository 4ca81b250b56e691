-- fct_orders and fct_order_items compute amounts independently (one aggregates staging lines
-- per order, the other prices each line); for every order, and so in total, the revenue of
-- non-cancelled orders must agree, and cancelled orders must carry no revenue.
with orders as (

    select order_id, order_status, net_amount, revenue
    from {{ ref('fct_orders') }}

),

items as (

    select
        order_id,
        sum(net_amount) as net_amount,
        sum(revenue) as revenue
    from {{ ref('fct_order_items') }}
    group by order_id

)

select
    orders.order_id,
    orders.order_status,
    orders.revenue as order_revenue,
    coalesce(items.revenue, 0) as items_revenue
from orders
left join items
    on orders.order_id = items.order_id
where orders.revenue <> coalesce(items.revenue, 0)
    or orders.net_amount <> coalesce(items.net_amount, 0)
    or (orders.order_status = 'cancelled' and orders.revenue <> 0)
