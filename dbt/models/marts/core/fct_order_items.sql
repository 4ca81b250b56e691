-- One row per order line. revenue = quantity * unit_price - discount for lines of orders whose
-- status is not 'cancelled', 0 otherwise; summed, it equals fct_orders.revenue.
with order_items as (

    select * from {{ ref('int_order_items__joined_orders') }}

)

select
    order_item_id,
    order_id,
    product_id,
    customer_id,
    order_status,
    ordered_at,
    order_date,
    quantity,
    unit_price,
    discount,
    gross_amount,
    net_amount,
    is_revenue,
    revenue

from order_items
