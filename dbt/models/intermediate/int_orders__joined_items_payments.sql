-- One row per order: the order, its lines' totals and its payment attempts.
--   net_amount = sum over the order's lines of (quantity * unit_price - discount); 0 without lines
--   is_revenue = order_status <> 'cancelled'
--   revenue    = net_amount when is_revenue, else 0
with orders as (

    select * from {{ ref('stg_shop__orders') }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

payments as (

    select * from {{ ref('int_payments__ranked_attempts') }}

),

item_totals as (

    select
        order_id,
        count(*) as item_count,
        sum(quantity) as units,
        sum({{ sandbox.line_gross_amount('quantity', 'unit_price') }}) as gross_amount,
        sum(discount) as discount_amount,
        sum({{ sandbox.line_net_amount('quantity', 'unit_price', 'discount') }}) as net_amount

    from order_items
    group by order_id

),

payment_totals as (

    select
        order_id,
        count(*) as payment_attempts,
        sum(case when is_failed then 1 else 0 end) as failed_payment_attempts,
        sum(case when payment_status = 'captured' then amount else 0 end) as captured_amount,
        sum(case when payment_status = 'refunded' then amount else 0 end) as refunded_amount,
        max(case when is_latest_attempt then payment_method end) as payment_method,
        max(case when is_latest_attempt then payment_status end) as latest_payment_status

    from payments
    group by order_id

),

joined as (

    select
        orders.order_id,
        orders.customer_id,
        orders.shipping_address_id,
        orders.order_status,
        orders.currency,
        orders.ordered_at,
        {{ sandbox.utc_date('orders.ordered_at') }} as order_date,
        cast(coalesce(item_totals.item_count, 0) as {{ dbt.type_bigint() }}) as item_count,
        cast(coalesce(item_totals.units, 0) as {{ dbt.type_bigint() }}) as units,
        {{ sandbox.money('coalesce(item_totals.gross_amount, 0)') }} as gross_amount,
        {{ sandbox.money('coalesce(item_totals.discount_amount, 0)') }} as discount_amount,
        {{ sandbox.money('coalesce(item_totals.net_amount, 0)') }} as net_amount,
        {{ sandbox.is_revenue_status('orders.order_status') }} as is_revenue,
        cast(coalesce(payment_totals.payment_attempts, 0) as {{ dbt.type_bigint() }}) as payment_attempts,
        cast(coalesce(payment_totals.failed_payment_attempts, 0) as {{ dbt.type_bigint() }}) as failed_payment_attempts,
        {{ sandbox.money('coalesce(payment_totals.captured_amount, 0)') }} as captured_amount,
        {{ sandbox.money('coalesce(payment_totals.refunded_amount, 0)') }} as refunded_amount,
        payment_totals.payment_method,
        payment_totals.latest_payment_status,
        cast(row_number() over (
            partition by orders.customer_id order by orders.ordered_at, orders.order_id
        ) as {{ dbt.type_bigint() }}) as customer_order_number

    from orders
    left join item_totals
        on orders.order_id = item_totals.order_id
    left join payment_totals
        on orders.order_id = payment_totals.order_id

)

select
    *,
    case when is_revenue then net_amount else {{ sandbox.money(0) }} end as revenue

from joined
