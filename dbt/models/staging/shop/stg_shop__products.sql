select
    cast(product_id as {{ dbt.type_bigint() }}) as product_id,
    sku,
    name as product_name,
    category,
    cast(price as numeric(38, 2)) as price,
    currency,
    active as is_active,
    {{ sandbox.array_to_csv('tags') }} as tags,
    attributes as attributes_json,
    {{ sandbox.try_cast(sandbox.json_text('attributes', 'weight_g'), 'integer') }} as weight_grams,
    {{ sandbox.try_cast(sandbox.json_text('attributes', 'rating'), 'numeric(3, 1)') }} as rating,
    created_at,
    updated_at,
    {{ sandbox.lake_load_id() }} as _sandbox_load_id

from {{ source('shop', 'products') }}
