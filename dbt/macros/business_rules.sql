{#
    The business rules every model shares, defined once so marts and tests agree.
#}

{# Net amount of one order line: quantity x unit price minus the line's absolute discount. #}
{% macro line_net_amount(quantity, unit_price, discount) -%}
    ({{ quantity }} * {{ unit_price }} - coalesce({{ discount }}, 0))
{%- endmacro %}

{# Gross amount of one order line, before its discount. #}
{% macro line_gross_amount(quantity, unit_price) -%}
    ({{ quantity }} * {{ unit_price }})
{%- endmacro %}

{# An order counts toward revenue unless it is cancelled (returned orders do count). #}
{% macro is_revenue_status(status) -%}
    ({{ status }} <> 'cancelled')
{%- endmacro %}

{# Revenue of an order or a line: its net amount unless its order is cancelled, else 0. #}
{% macro revenue(is_revenue, net_amount) -%}
    case when {{ is_revenue }} then {{ net_amount }} else {{ sandbox.money(0) }} end
{%- endmacro %}

{# A ratio (a share or a rate, within 0..1) that is null, not an error, when the denominator is
   0; rounded to 6 decimals. `* 1.0` makes integer division exact without bounding the numerator
   (a cast to a fixed precision would overflow for the largest sums of money). #}
{% macro safe_ratio(numerator, denominator, scale=6) -%}
    cast(round(({{ numerator }}) * 1.0 / nullif({{ denominator }}, 0), {{ scale }}) as numeric(9, {{ scale }}))
{%- endmacro %}

{# Money, as every mart stores it: wide enough for any sum of what the source's columns can hold
   (a line is at most 2^31 units at 99,999,999.99 each: about 2.1e17). #}
{% macro money(expression) -%}
    cast({{ expression }} as numeric(38, 2))
{%- endmacro %}

{# The order of an order's payment attempts: by time, ties by id. The last is the one whose
   method and status the order reports. #}
{% macro payment_attempt_order() -%}
    attempted_at, payment_id
{%- endmacro %}
