select
    cast(product_id as {{ dbt.type_bigint() }}) as product_id,
    sku,
    name as product_name,
    category,
    cast(price as numeric(10, 2)) as price,
    currency,
    active as is_active,
    {{ sandbox.array_to_csv('tags') }} as tags,
    attributes as attributes_json,
    cast({{ sandbox.json_text('attributes', 'weight_g') }} as integer) as weight_grams,
    cast({{ sandbox.json_text('attributes', 'rating') }} as numeric(3, 1)) as rating,
    created_at,
    updated_at

from {{ source('shop', 'products') }}
