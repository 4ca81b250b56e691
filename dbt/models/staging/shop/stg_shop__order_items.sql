select
    cast(order_item_id as {{ dbt.type_bigint() }}) as order_item_id,
    cast(order_id as {{ dbt.type_bigint() }}) as order_id,
    cast(product_id as {{ dbt.type_bigint() }}) as product_id,
    cast(quantity as {{ dbt.type_bigint() }}) as quantity,
    cast(unit_price as numeric(38, 2)) as unit_price,
    cast(coalesce(discount, 0) as numeric(38, 2)) as discount,
    created_at,
    updated_at,
    {{ sandbox.lake_load_id() }} as _sandbox_load_id

from {{ source('shop', 'order_items') }}
