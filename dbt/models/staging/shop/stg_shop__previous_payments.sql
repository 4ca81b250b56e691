-- The payment attempts the warehouse loader deleted or changed, as they were, with the load that did it:
-- how the order model learns that an order lost an attempt (deleted, or moved to another order).
-- Snowflake reads the lake in place and keeps no previous versions (the order model is rebuilt
-- whole there), so this is empty.
select
    cast(payment_id as {{ dbt.type_bigint() }}) as payment_id,
    cast(order_id as {{ dbt.type_bigint() }}) as order_id,
    {{ sandbox.lake_load_id() }} as _sandbox_load_id

{% if target.type == 'snowflake' %}
from {{ source('shop', 'payments') }}
where false
{% else %}
from {{ source('shop', 'payments__previous') }}
{% endif %}
