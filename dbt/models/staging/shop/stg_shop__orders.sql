select
    cast(order_id as {{ dbt.type_bigint() }}) as order_id,
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    cast(shipping_address_id as {{ dbt.type_bigint() }}) as shipping_address_id,
    status as order_status,
    ordered_at,
    currency,
    created_at,
    updated_at,
    {{ sandbox.lake_load_id() }} as _sandbox_load_id

from {{ source('shop', 'orders') }}
