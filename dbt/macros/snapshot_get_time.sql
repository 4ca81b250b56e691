{#
    Postgres: dbt stamps snapshot times (e.g. dbt_valid_to of a hard-deleted customer) as
    `timestamp without time zone`, while the lake's updated_at, which the timestamp strategy
    copies into dbt_valid_from/dbt_valid_to, is `timestamp with time zone`. Stamp with time
    zone too, so every snapshot time column has one type (and dbt's type warning goes away).
#}
{% macro postgres__snapshot_get_time() -%}
    {{ current_timestamp() }}
{%- endmacro %}
