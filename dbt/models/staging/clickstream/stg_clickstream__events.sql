-- One row per event. Kinesis delivers at least once, so a redelivered event (same event_id)
-- is kept once: its first arrival.
with source as (

    select * from {{ source('clickstream', 'events') }}

),

renamed as (

    select
        event_id,
        event_type,
        session_id,
        cast(customer_id as {{ dbt.type_bigint() }}) as customer_id,
        cast(product_id as {{ dbt.type_bigint() }}) as product_id,
        cast(coalesce(quantity, 0) as integer) as quantity,
        cast(price as numeric(10, 2)) as price,
        occurred_at,
        arrived_at,
        row_number() over (partition by event_id order by arrived_at, occurred_at) as delivery_number

    from source

)

select
    event_id,
    event_type,
    session_id,
    customer_id,
    product_id,
    quantity,
    price,
    occurred_at,
    arrived_at

from renamed
where delivery_number = 1
