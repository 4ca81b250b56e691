{{
    config(
        materialized=sandbox.incremental_where_loads_are_known(),
        unique_key='order_item_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        post_hook=[
            "{{ sandbox.delete_rows_gone_from(ref('stg_shop__order_items'), 'order_item_id') }}",
            after_commit("{{ sandbox.vacuum_after_run() }}"),
        ]
    )
}}
-- One row per order line: the line, its order's customer, status and time, and its amounts
-- (rules in macros/business_rules.sql); revenue summed over an order's lines equals
-- fct_orders.revenue. Incremental: which lines a run rebuilds is stated in dbt/README.md.
with order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

{% if is_incremental() %}

{% set seen = sandbox.newest_load_seen('source_load_id') %}

lines_to_build as (

    -- lines a later load wrote, and the lines of orders a later load wrote. Read from the refs,
    -- not the CTEs above: a CTE read twice is materialized to disk.
    select order_items.order_item_id
    from {{ ref('stg_shop__order_items') }} as order_items
    where order_items._sandbox_load_id > {{ seen }}

    union

    select order_items.order_item_id
    from {{ ref('stg_shop__order_items') }} as order_items
    inner join {{ ref('stg_shop__orders') }} as orders
        on order_items.order_id = orders.order_id
    where orders._sandbox_load_id > {{ seen }}

),

{% endif %}

joined as (

    select
        order_items.order_item_id,
        order_items.order_id,
        order_items.product_id,
        orders.customer_id,
        orders.order_status,
        orders.ordered_at,
        {{ sandbox.utc_date('orders.ordered_at') }} as order_date,
        order_items.quantity,
        order_items.unit_price,
        order_items.discount,
        {{ sandbox.money(sandbox.line_gross_amount('order_items.quantity', 'order_items.unit_price')) }} as gross_amount,
        {{ sandbox.money(sandbox.line_net_amount('order_items.quantity', 'order_items.unit_price', 'order_items.discount')) }} as net_amount,
        {{ sandbox.is_revenue_status('orders.order_status') }} as is_revenue,
        greatest(order_items._sandbox_load_id, orders._sandbox_load_id) as source_load_id

    from order_items
    inner join orders
        on order_items.order_id = orders.order_id
    {% if is_incremental() %}
    where order_items.order_item_id in (select order_item_id from lines_to_build)
    {% endif %}

),

final as (

    select
        *,
        {{ sandbox.revenue('is_revenue', 'net_amount') }} as revenue

    from joined

)

select * from final
{% if is_incremental() %}
where {{ sandbox.not_already_built('final', 'order_item_id') }}
{% endif %}
