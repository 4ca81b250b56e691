-- One row per order line, with its order's customer, status and time, and the line's amounts.
-- Every line-level money rule lives here (macros/business_rules.sql):
--   gross_amount = quantity * unit_price
--   net_amount   = quantity * unit_price - discount
--   revenue      = net_amount when the order is not cancelled, else 0
with order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

joined as (

    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        orders.customer_id,
        orders.order_status,
        orders.ordered_at,
        {{ sandbox.utc_date('orders.ordered_at') }} as order_date,
        order_items.quantity,
        order_items.unit_price,
        order_items.discount,
        {{ sandbox.money(sandbox.line_gross_amount('order_items.quantity', 'order_items.unit_price')) }} as gross_amount,
        {{ sandbox.money(sandbox.line_net_amount('order_items.quantity', 'order_items.unit_price', 'order_items.discount')) }} as net_amount,
        {{ sandbox.is_revenue_status('orders.order_status') }} as is_revenue

    from order_items
    inner join orders
        on order_items.order_id = orders.order_id

)

select
    *,
    case when is_revenue then net_amount else {{ sandbox.money(0) }} end as revenue

from joined
