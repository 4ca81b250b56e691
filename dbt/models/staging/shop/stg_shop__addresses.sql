select
    cast(address_id as {{ dbt.type_bigint() }}) as address_id,
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    kind as address_kind,
    street,
    city,
    postal_code,
    upper(country_code) as country_code,
    created_at,
    updated_at,
    {{ sandbox.lake_load_id() }} as _sandbox_load_id

from {{ source('shop', 'addresses') }}
