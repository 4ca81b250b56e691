-- One row per (UTC attempt date, payment method) with at least one payment attempt.
-- Every payments row is one attempt, whatever its status;
--   failures     = attempts with status 'failed'
--   failure_rate = failures / attempts (6 decimals)
with payments as (

    select * from {{ ref('int_payments__ranked_attempts') }}

),

daily as (

    select
        attempt_date,
        payment_method,
        count(*) as attempts,
        sum(case when is_failed then 1 else 0 end) as failures,
        sum(case when is_recovered_failure then 1 else 0 end) as recovered_failures,
        sum(case when is_failed then amount else 0 end) as failed_amount

    from payments
    group by attempt_date, payment_method

)

select
    attempt_date,
    payment_method,
    cast(attempts as {{ dbt.type_bigint() }}) as attempts,
    cast(failures as {{ dbt.type_bigint() }}) as failures,
    {{ sandbox.safe_ratio('failures', 'attempts') }} as failure_rate,
    cast(recovered_failures as {{ dbt.type_bigint() }}) as recovered_failures,
    {{ sandbox.money('failed_amount') }} as failed_amount

from daily
