-- Total revenue is the same in every mart that reports it: the sum of fct_orders.revenue
-- (net amounts of orders whose status is not cancelled).
with totals as (

    select 'fct_orders' as model, sum(revenue) as revenue from {{ ref('fct_orders') }}
    union all
    select 'fct_order_items', sum(revenue) from {{ ref('fct_order_items') }}
    union all
    select 'mart_daily_revenue', sum(revenue) from {{ ref('mart_daily_revenue') }}
    union all
    select 'mart_customer_lifetime_value', sum(lifetime_revenue) from {{ ref('mart_customer_lifetime_value') }}
    union all
    select 'mart_customer_cohorts', sum(revenue) from {{ ref('mart_customer_cohorts') }}
    union all
    select 'mart_product_performance', sum(revenue) from {{ ref('mart_product_performance') }}

),

expected as (

    select coalesce(revenue, 0) as revenue from totals where model = 'fct_orders'

)

select totals.model, coalesce(totals.revenue, 0) as revenue, expected.revenue as expected_revenue
from totals
cross join expected
where coalesce(totals.revenue, 0) <> expected.revenue
