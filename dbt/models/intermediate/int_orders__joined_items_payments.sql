{{
    config(
        materialized=sandbox.incremental_where_loads_are_known(),
        unique_key='order_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[{'columns': ['order_id'], 'unique': True}],
        post_hook=[
            "{{ sandbox.delete_rows_gone_from(ref('stg_shop__orders'), 'order_id') }}",
            "{{ sandbox.forget_previous_versions(source('shop', 'order_items__previous'), 'source_load_id') }}",
            "{{ sandbox.forget_previous_versions(source('shop', 'payments__previous'), 'source_load_id') }}",
            after_commit("{{ sandbox.vacuum_after_run() }}"),
        ]
    )
}}
-- One row per order: the order, its lines' totals and its payment attempts (rules in
-- macros/business_rules.sql). Incremental: which orders a run rebuilds is stated in
-- dbt/README.md ("Incremental models").
-- depends_on: {{ ref('stg_shop__previous_order_items') }}
-- depends_on: {{ ref('stg_shop__previous_payments') }}
with orders as (

    select * from {{ ref('stg_shop__orders') }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

payments as (

    select * from {{ ref('stg_shop__payments') }}

),

{% set customer_order_number -%}
    row_number() over (partition by customer_id order by ordered_at, order_id)
{%- endset %}

{% if is_incremental() %}

{% set seen = sandbox.newest_load_seen('source_load_id') %}

changed_orders as (

    -- orders whose row, lines or payments a later load wrote, and orders that lost a line or a
    -- payment (deleted, or moved to another order). Read from the refs, not the CTEs above: a
    -- CTE read twice is materialized to disk.
    select order_id
    from {{ ref('stg_shop__orders') }}
    where _sandbox_load_id > {{ seen }}

    union

    select order_id
    from {{ ref('stg_shop__order_items') }}
    where _sandbox_load_id > {{ seen }}

    union

    select order_id
    from {{ ref('stg_shop__payments') }}
    where _sandbox_load_id > {{ seen }}

    union

    select order_id
    from {{ ref('stg_shop__previous_order_items') }}
    where _sandbox_load_id > {{ seen }}

    union

    select order_id
    from {{ ref('stg_shop__previous_payments') }}
    where _sandbox_load_id > {{ seen }}

),

renumbered_customers as (

    -- customers whose orders are numbered anew: one of their orders was added, deleted, moved
    -- to another customer (both customers) or re-timed. An order that changed otherwise (a
    -- status, its lines, its payments) keeps its number.
    select orders.customer_id
    from {{ ref('stg_shop__orders') }} as orders
    left join {{ this }} as built
        on orders.order_id = built.order_id
    where {{ sandbox.among('orders.order_id', 'select order_id from changed_orders') }}
        and (built.order_id is null or built.customer_id <> orders.customer_id or built.ordered_at <> orders.ordered_at)

    union

    select built.customer_id
    from {{ this }} as built
    inner join {{ ref('stg_shop__orders') }} as orders
        on built.order_id = orders.order_id
    where {{ sandbox.among('built.order_id', 'select order_id from changed_orders') }}
        and (built.customer_id <> orders.customer_id or built.ordered_at <> orders.ordered_at)

    union

    select built.customer_id
    from {{ this }} as built
    left join {{ ref('stg_shop__orders') }} as orders
        on built.order_id = orders.order_id
    where orders.order_id is null

),

renumbered_orders as (

    -- of the renumbered customers' orders, those whose number is not the one built
    select numbered.order_id
    from (
        select order_id, {{ customer_order_number }} as customer_order_number
        from {{ ref('stg_shop__orders') }}
        where {{ sandbox.among('customer_id', 'select customer_id from renumbered_customers') }}
    ) as numbered
    left join {{ this }} as built
        on numbered.order_id = built.order_id
    where built.order_id is null or built.customer_order_number <> numbered.customer_order_number

),

{% endif %}

orders_to_build as (

    select * from orders
    {% if is_incremental() %}
    where {{ sandbox.among('order_id', 'select order_id from changed_orders union select order_id from renumbered_orders') }}
    {% endif %}

),

customer_order_numbers as (

    -- numbered among all the customer's orders, also those not rebuilt
    select
        order_id,
        {{ customer_order_number }} as customer_order_number
    from {{ ref('stg_shop__orders') }}
    {% if is_incremental() %}
    where {{ sandbox.among('customer_id', 'select customer_id from orders_to_build') }}
    {% endif %}

),

item_totals as (

    select
        order_id,
        count(*) as item_count,
        sum(quantity) as units,
        sum({{ sandbox.line_gross_amount('quantity', 'unit_price') }}) as gross_amount,
        sum(discount) as discount_amount,
        sum({{ sandbox.line_net_amount('quantity', 'unit_price', 'discount') }}) as net_amount,
        max(_sandbox_load_id) as load_id

    from order_items
    {% if is_incremental() %}
    where {{ sandbox.among('order_id', 'select order_id from orders_to_build') }}
    {% endif %}
    group by order_id

),

payment_attempts as (

    -- the attempts of the orders being built, numbered as int_payments__ranked_attempts does
    select
        order_id,
        payment_method,
        payment_status,
        amount,
        _sandbox_load_id,
        row_number() over (partition by order_id order by {{ sandbox.payment_attempt_order() }})
            = count(*) over (partition by order_id) as is_latest_attempt

    from payments
    {% if is_incremental() %}
    where {{ sandbox.among('order_id', 'select order_id from orders_to_build') }}
    {% endif %}

),

payment_totals as (

    select
        order_id,
        count(*) as payment_attempts,
        sum(case when payment_status = 'failed' then 1 else 0 end) as failed_payment_attempts,
        sum(case when payment_status = 'captured' then amount else 0 end) as captured_amount,
        sum(case when payment_status = 'refunded' then amount else 0 end) as refunded_amount,
        max(case when is_latest_attempt then payment_method end) as payment_method,
        max(case when is_latest_attempt then payment_status end) as latest_payment_status,
        max(_sandbox_load_id) as load_id

    from payment_attempts
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
        cast(customer_order_numbers.customer_order_number as {{ dbt.type_bigint() }}) as customer_order_number,
        greatest(
            orders._sandbox_load_id,
            coalesce(item_totals.load_id, orders._sandbox_load_id),
            coalesce(payment_totals.load_id, orders._sandbox_load_id)
        ) as source_load_id

    from orders_to_build as orders
    left join item_totals
        on orders.order_id = item_totals.order_id
    left join payment_totals
        on orders.order_id = payment_totals.order_id
    inner join customer_order_numbers
        on orders.order_id = customer_order_numbers.order_id

),

final as (

    select
        *,
        {{ sandbox.revenue('is_revenue', 'net_amount') }} as revenue

    from joined

)

select * from final
{% if is_incremental() %}
where {{ sandbox.not_already_built('final', 'order_id') }}
{% endif %}
