-- One row per (cohort_month, months_since_first_order) with at least one revenue order.
--   cohort_month             = first day of the UTC month of the customer's first revenue order
--                              (revenue order: status <> 'cancelled')
--   months_since_first_order = calendar months from cohort_month to the UTC month of the order
--   customers                = distinct cohort customers with a revenue order in that month
--   revenue                  = sum of those orders' net amounts
with customers as (

    select customer_id, cohort_month
    from {{ ref('int_customers__order_history') }}
    where cohort_month is not null

),

orders as (

    select * from {{ ref('int_orders__joined_items_payments') }}
    where is_revenue

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_size

    from customers
    group by cohort_month

),

customer_orders as (

    select
        customers.customer_id,
        customers.cohort_month,
        {{ sandbox.utc_month('orders.ordered_at') }} as order_month,
        orders.revenue

    from orders
    inner join customers
        on orders.customer_id = customers.customer_id

),

activity as (

    select
        cohort_month,
        cast({{ dbt.datediff('cohort_month', 'order_month', 'month') }} as integer) as months_since_first_order,
        count(distinct customer_id) as customers,
        count(*) as orders,
        sum(revenue) as revenue

    from customer_orders
    group by 1, 2

)

select
    activity.cohort_month,
    activity.months_since_first_order,
    cast(cohort_sizes.cohort_size as {{ dbt.type_bigint() }}) as cohort_size,
    cast(activity.customers as {{ dbt.type_bigint() }}) as customers,
    cast(activity.orders as {{ dbt.type_bigint() }}) as orders,
    {{ sandbox.money('activity.revenue') }} as revenue,
    {{ sandbox.safe_ratio('activity.customers', 'cohort_sizes.cohort_size') }} as retention_rate,
    {{ sandbox.money('sum(activity.revenue) over (partition by activity.cohort_month order by activity.months_since_first_order rows between unbounded preceding and current row)') }} as cumulative_revenue,
    {{ sandbox.money('sum(activity.revenue) over (partition by activity.cohort_month order by activity.months_since_first_order rows between unbounded preceding and current row) / cohort_sizes.cohort_size') }} as cumulative_revenue_per_customer

from activity
inner join cohort_sizes
    on activity.cohort_month = cohort_sizes.cohort_month
