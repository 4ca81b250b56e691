-- One row per UTC calendar day on which at least one order (any status) was placed.
-- Revenue orders are orders whose status is not 'cancelled';
--   revenue = sum over the day's revenue orders of their lines' (quantity * unit_price - discount).
with orders as (

    select * from {{ ref('int_orders__joined_items_payments') }}

),

daily as (

    select
        order_date,
        count(*) as orders_placed,
        sum(case when is_revenue then 1 else 0 end) as orders,
        sum(case when order_status = 'cancelled' then 1 else 0 end) as cancelled_orders,
        count(distinct case when is_revenue then customer_id end) as customers,
        sum(case when is_revenue then units else 0 end) as units_sold,
        sum(case when is_revenue then gross_amount else 0 end) as gross_sales,
        sum(case when is_revenue then discount_amount else 0 end) as discounts,
        sum(revenue) as revenue,
        sum(case when order_status = 'returned' then net_amount else 0 end) as returned_revenue

    from orders
    group by order_date

)

select
    order_date,
    cast(orders_placed as {{ dbt.type_bigint() }}) as orders_placed,
    cast(orders as {{ dbt.type_bigint() }}) as orders,
    cast(cancelled_orders as {{ dbt.type_bigint() }}) as cancelled_orders,
    cast(customers as {{ dbt.type_bigint() }}) as customers,
    cast(units_sold as {{ dbt.type_bigint() }}) as units_sold,
    {{ sandbox.money('gross_sales') }} as gross_sales,
    {{ sandbox.money('discounts') }} as discounts,
    {{ sandbox.money('revenue') }} as revenue,
    {{ sandbox.money('returned_revenue') }} as returned_revenue,
    {{ sandbox.money('revenue / nullif(orders, 0)') }} as average_order_value,
    {{ sandbox.money('sum(revenue) over (order by order_date rows between unbounded preceding and current row)') }} as cumulative_revenue

from daily
