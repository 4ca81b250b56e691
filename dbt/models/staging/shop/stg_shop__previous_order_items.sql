-- The order lines the warehouse loader deleted or changed, as they were, with the load that did it:
-- how the order model learns that an order lost a line (deleted, or moved to another order).
-- Snowflake reads the lake in place and keeps no previous versions (the order model is rebuilt
-- whole there), so this is empty.
select
    cast(order_item_id as {{ dbt.type_bigint() }}) as order_item_id,
    cast(order_id as {{ dbt.type_bigint() }}) as order_id,
    {{ sandbox.lake_load_id() }} as _sandbox_load_id

{% if target.type == 'snowflake' %}
from {{ source('shop', 'order_items') }}
where false
{% else %}
from {{ source('shop', 'order_items__previous') }}
{% endif %}
