-- One row per customer. Columns are listed explicitly, so a column the source gains later
-- (schema drift, e.g. loyalty_tier) does not change this model.
select
    cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
    email,
    first_name,
    last_name,
    phone,
    upper(country_code) as country_code,
    segment as customer_segment,
    signup_at as signed_up_at,
    created_at,
    updated_at,
    {{ sandbox.lake_load_id() }} as _sandbox_load_id

from {{ source('shop', 'customers') }}
