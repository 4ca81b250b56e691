select
    cast(payment_id as {{ dbt.type_bigint() }}) as payment_id,
    cast(order_id as {{ dbt.type_bigint() }}) as order_id,
    method as payment_method,
    cast(amount as numeric(38, 2)) as amount,
    status as payment_status,
    failure_reason,
    attempted_at,
    created_at,
    updated_at,
    {{ sandbox.lake_load_id() }} as _sandbox_load_id

from {{ source('shop', 'payments') }}
