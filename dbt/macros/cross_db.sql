{#
    Small cross-database helpers (Postgres locally, Snowflake in the aws profile) for what
    dbt's built-in cross-database macros do not cover. All calendar logic is in UTC, never in
    the session's time zone.
#}

{# A timestamp with time zone as a UTC wall-clock timestamp (no time zone). #}
{% macro to_utc(column) -%}
    {{ return(adapter.dispatch('to_utc', 'sandbox')(column)) }}
{%- endmacro %}

{% macro default__to_utc(column) -%}
    ({{ column }} at time zone 'UTC')
{%- endmacro %}

{% macro snowflake__to_utc(column) -%}
    cast(convert_timezone('UTC', {{ column }}) as timestamp_ntz)
{%- endmacro %}


{# The UTC calendar date of a timestamp with time zone. #}
{% macro utc_date(column) -%}
    cast({{ sandbox.to_utc(column) }} as date)
{%- endmacro %}


{# The first day of the UTC calendar month of a timestamp with time zone, as a date. #}
{% macro utc_month(column) -%}
    cast({{ dbt.date_trunc('month', sandbox.to_utc(column)) }} as date)
{%- endmacro %}


{# A timestamp with time zone truncated to a UTC hour/minute/day; stays timestamp with time zone. #}
{% macro utc_truncate(datepart, column) -%}
    {{ return(adapter.dispatch('utc_truncate', 'sandbox')(datepart, column)) }}
{%- endmacro %}

{% macro default__utc_truncate(datepart, column) -%}
    (date_trunc('{{ datepart }}', {{ column }} at time zone 'UTC') at time zone 'UTC')
{%- endmacro %}

{% macro snowflake__utc_truncate(datepart, column) -%}
    date_trunc('{{ datepart }}', convert_timezone('UTC', {{ column }}))
{%- endmacro %}


{# One key of a JSON object stored as text, as text (null when absent). #}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'sandbox')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    (cast({{ column }} as jsonb) ->> '{{ key }}')
{%- endmacro %}

{% macro snowflake__json_text(column, key) -%}
    json_extract_path_text({{ column }}, '{{ key }}')
{%- endmacro %}


{# An array of text as one comma-separated string ('' for an empty array). #}
{% macro array_to_csv(column) -%}
    {{ return(adapter.dispatch('array_to_csv', 'sandbox')(column)) }}
{%- endmacro %}

{# Postgres text[] and Snowflake ARRAY both have array_to_string(array, separator). #}
{% macro default__array_to_csv(column) -%}
    array_to_string({{ column }}, ',')
{%- endmacro %}


{# The warehouse load that last wrote a lake row (the loader's `_sandbox_load_id`). Snowflake reads
   the lake's Iceberg tables in place, without a loader: 0 there. #}
{% macro lake_load_id() -%}
    {{ return(adapter.dispatch('lake_load_id', 'sandbox')()) }}
{%- endmacro %}

{% macro default__lake_load_id() -%}
    _sandbox_load_id
{%- endmacro %}

{% macro snowflake__lake_load_id() -%}
    cast(0 as bigint)
{%- endmacro %}


{# `text` as `type` where it is a valid value of that type, else null: for values read out of JSON,
   which the source does not constrain (a rating of "n/a", a weight of 1e40). #}
{% macro try_cast(text, type) -%}
    {{ return(adapter.dispatch('try_cast', 'sandbox')(text, type)) }}
{%- endmacro %}

{% macro default__try_cast(text, type) -%}
    case when pg_input_is_valid({{ text }}, '{{ type }}') then cast({{ text }} as {{ type }}) end
{%- endmacro %}

{% macro snowflake__try_cast(text, type) -%}
    try_cast({{ text }} as {{ type }})
{%- endmacro %}
