{{ config(materialized='view') }}
-- One row per order. revenue = net_amount (sum of quantity * unit_price - discount over the
-- order's lines) for orders whose status is not 'cancelled', 0 for cancelled orders.
-- A view: the published columns of int_orders__joined_items_payments, which is kept
-- incrementally; a table here would copy a million rows on every run for nothing.
-- One select, no CTE, so Postgres inlines the view into the queries that read it.
select
    order_id,
    customer_id,
    shipping_address_id,
    order_status,
    currency,
    ordered_at,
    order_date,
    customer_order_number,
    item_count,
    units,
    gross_amount,
    discount_amount,
    net_amount,
    is_revenue,
    revenue,
    payment_attempts,
    failed_payment_attempts,
    captured_amount,
    refunded_amount,
    payment_method,
    latest_payment_status

from {{ ref('int_orders__joined_items_payments') }}
