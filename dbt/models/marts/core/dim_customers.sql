-- One row per customer: who they are, where they ship to, and a summary of their orders.
with customers as (

    select * from {{ ref('stg_shop__customers') }}

),

addresses as (

    select * from {{ ref('stg_shop__addresses') }}

),

order_history as (

    select * from {{ ref('int_customers__order_history') }}

),

shipping_addresses as (

    select
        customer_id,
        city,
        postal_code,
        country_code,
        row_number() over (partition by customer_id order by address_id) as address_rank

    from addresses
    where address_kind = 'shipping'

),

billing_addresses as (

    select distinct customer_id

    from addresses
    where address_kind = 'billing'

)

select
    customers.customer_id,
    customers.email,
    customers.first_name,
    customers.last_name,
    {{ dbt.concat(["customers.first_name", "' '", "customers.last_name"]) }} as full_name,
    customers.phone,
    customers.country_code,
    customers.customer_segment,
    customers.signed_up_at,
    shipping_addresses.city as shipping_city,
    shipping_addresses.postal_code as shipping_postal_code,
    shipping_addresses.country_code as shipping_country_code,
    billing_addresses.customer_id is not null as has_billing_address,
    order_history.first_order_at,
    order_history.last_order_at,
    order_history.cohort_month,
    order_history.orders_placed,
    order_history.lifetime_orders,
    order_history.lifetime_revenue,
    customers.updated_at

from customers
left join shipping_addresses
    on customers.customer_id = shipping_addresses.customer_id
    and shipping_addresses.address_rank = 1
left join billing_addresses
    on customers.customer_id = billing_addresses.customer_id
left join order_history
    on customers.customer_id = order_history.customer_id
