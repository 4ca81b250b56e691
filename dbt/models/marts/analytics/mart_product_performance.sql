-- One row per product (also never-sold ones). Sales count lines of revenue orders only
-- (order status <> 'cancelled'); revenue = sum of their quantity * unit_price - discount.
-- Clickstream counts are events (deduplicated) of the product, 0 when streaming has not run.
with products as (

    select * from {{ ref('stg_shop__products') }}

),

order_items as (

    select * from {{ ref('fct_order_items') }}

),

events as (

    select * from {{ ref('stg_clickstream__events') }}

),

sales as (

    select
        product_id,
        count(distinct case when is_revenue then order_id end) as orders,
        sum(case when is_revenue then quantity else 0 end) as units_sold,
        sum(case when is_revenue then gross_amount else 0 end) as gross_sales,
        sum(case when is_revenue then discount else 0 end) as discounts,
        sum(revenue) as revenue,
        sum(case when order_status = 'returned' then quantity else 0 end) as returned_units

    from order_items
    group by product_id

),

clicks as (

    select
        product_id,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_carts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as clickstream_purchases

    from events
    group by product_id

),

joined as (

    select
        products.product_id,
        products.sku,
        products.product_name,
        products.category,
        products.price,
        products.is_active,
        coalesce(sales.orders, 0) as orders,
        coalesce(sales.units_sold, 0) as units_sold,
        coalesce(sales.gross_sales, 0) as gross_sales,
        coalesce(sales.discounts, 0) as discounts,
        coalesce(sales.revenue, 0) as revenue,
        coalesce(sales.returned_units, 0) as returned_units,
        coalesce(clicks.page_views, 0) as page_views,
        coalesce(clicks.add_to_carts, 0) as add_to_carts,
        coalesce(clicks.clickstream_purchases, 0) as clickstream_purchases

    from products
    left join sales
        on products.product_id = sales.product_id
    left join clicks
        on products.product_id = clicks.product_id

)

select
    product_id,
    sku,
    product_name,
    category,
    price,
    is_active,
    cast(orders as {{ dbt.type_bigint() }}) as orders,
    cast(units_sold as {{ dbt.type_bigint() }}) as units_sold,
    {{ sandbox.money('gross_sales') }} as gross_sales,
    {{ sandbox.money('discounts') }} as discounts,
    {{ sandbox.money('revenue') }} as revenue,
    cast(returned_units as {{ dbt.type_bigint() }}) as returned_units,
    cast(row_number() over (order by revenue desc, product_id) as {{ dbt.type_bigint() }}) as revenue_rank,
    {{ sandbox.safe_ratio('revenue', 'sum(revenue) over (partition by category)') }} as category_revenue_share,
    cast(page_views as {{ dbt.type_bigint() }}) as page_views,
    cast(add_to_carts as {{ dbt.type_bigint() }}) as add_to_carts,
    cast(clickstream_purchases as {{ dbt.type_bigint() }}) as clickstream_purchases

from joined
