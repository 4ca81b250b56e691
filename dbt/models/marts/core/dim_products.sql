-- One row per product, with its current price and catalogue attributes.
with products as (

    select * from {{ ref('stg_shop__products') }}

)

select
    product_id,
    sku,
    product_name,
    category,
    price,
    currency,
    is_active,
    tags,
    weight_grams,
    rating,
    created_at,
    updated_at

from products
