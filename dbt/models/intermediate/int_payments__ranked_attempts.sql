-- One row per payment attempt, numbered within its order, flagging failures and whether a
-- later attempt of the same order recovered them (a later attempt that did not fail).
with payments as (

    select * from {{ ref('stg_shop__payments') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id order by {{ sandbox.payment_attempt_order() }}
        ) as attempt_number,
        count(*) over (partition by order_id) as order_attempts

    from payments

),

flagged as (

    select
        *,
        max(case when payment_status <> 'failed' then attempt_number end) over (
            partition by order_id
        ) as last_successful_attempt_number

    from ranked

)

select
    payment_id,
    order_id,
    payment_method,
    amount,
    payment_status,
    failure_reason,
    attempted_at,
    {{ sandbox.utc_date('attempted_at') }} as attempt_date,
    cast(attempt_number as integer) as attempt_number,
    attempt_number = order_attempts as is_latest_attempt,
    payment_status = 'failed' as is_failed,
    (
        payment_status = 'failed'
        and coalesce(last_successful_attempt_number > attempt_number, false)
    ) as is_recovered_failure,
    updated_at

from flagged
