-- The customers snapshot holds exactly one current version (dbt_valid_to null) per customer
-- still in the lake, and its versions of a customer never overlap.
with current_versions as (

    select customer_id, count(*) as versions
    from {{ ref('customers_snapshot') }}
    where dbt_valid_to is null
    group by customer_id
    having count(*) > 1

),

overlapping_versions as (

    select earlier.customer_id
    from {{ ref('customers_snapshot') }} as earlier
    inner join {{ ref('customers_snapshot') }} as later
        on earlier.customer_id = later.customer_id
        and earlier.dbt_scd_id <> later.dbt_scd_id
        and later.dbt_valid_from >= earlier.dbt_valid_from
        and (earlier.dbt_valid_to is null or later.dbt_valid_from < earlier.dbt_valid_to)

),

missing as (

    select customers.customer_id
    from {{ source('shop', 'customers') }} as customers
    left join (
        select customer_id from {{ ref('customers_snapshot') }} where dbt_valid_to is null
    ) as snapshot_current
        on customers.customer_id = snapshot_current.customer_id
    where snapshot_current.customer_id is null

)

select customer_id, 'more than one current version' as problem from current_versions
union all
select customer_id, 'overlapping versions' from overlapping_versions
union all
select customer_id, 'no current version' from missing
