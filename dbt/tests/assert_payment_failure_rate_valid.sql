-- Each day's failure rate per method lies in [0, 1] and equals failures / attempts, and the
-- mart accounts for every payment attempt and every failed one in staging.
with mart as (

    select * from {{ ref('mart_payment_failure_rates') }}

),

bad_rates as (

    select attempt_date, payment_method, failure_rate
    from mart
    where failure_rate < 0
        or failure_rate > 1
        or abs(failure_rate - cast(failures as numeric(18, 6)) / attempts) > 0.000001

),

totals as (

    select
        (select count(*) from {{ ref('stg_shop__payments') }}) as staged_attempts,
        (select count(*) from {{ ref('stg_shop__payments') }} where payment_status = 'failed') as staged_failures,
        (select coalesce(sum(attempts), 0) from mart) as mart_attempts,
        (select coalesce(sum(failures), 0) from mart) as mart_failures

)

select
    cast(attempt_date as {{ dbt.type_string() }}) as problem,
    payment_method,
    failure_rate
from bad_rates

union all

select
    'totals differ from staging' as problem,
    null as payment_method,
    null as failure_rate
from totals
where staged_attempts <> mart_attempts or staged_failures <> mart_failures
