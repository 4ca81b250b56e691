-- One row per customer (also those without orders). Only revenue orders (status <> 'cancelled')
-- count:
--   lifetime_revenue    = sum of the customer's revenue orders' net amounts
--   average_order_value = lifetime_revenue / lifetime_orders (null without revenue orders)
--   lifespan_days       = UTC days from first_order_at to last_order_at
with customers as (

    select * from {{ ref('stg_shop__customers') }}

),

order_history as (

    select * from {{ ref('int_customers__order_history') }}

)

select
    customers.customer_id,
    customers.customer_segment,
    customers.country_code,
    customers.signed_up_at,
    order_history.cohort_month,
    order_history.first_order_at,
    order_history.last_order_at,
    order_history.orders_placed,
    order_history.lifetime_orders,
    order_history.cancelled_orders,
    order_history.returned_orders,
    order_history.lifetime_revenue,
    order_history.returned_revenue,
    {{ sandbox.money('order_history.lifetime_revenue / nullif(order_history.lifetime_orders, 0)') }} as average_order_value,
    cast({{ dbt.datediff(sandbox.utc_date('order_history.first_order_at'), sandbox.utc_date('order_history.last_order_at'), 'day') }} as integer) as lifespan_days,
    cast(row_number() over (
        order by order_history.lifetime_revenue desc, customers.customer_id
    ) as {{ dbt.type_bigint() }}) as lifetime_revenue_rank

from customers
inner join order_history
    on customers.customer_id = order_history.customer_id
