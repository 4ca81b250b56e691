"""Arrow schemas as Postgres tables: the lake tables' DDL and their safe evolution.

A column Iceberg gained is added; a safe widening (integer -> bigint, real -> double,
more numeric digits) is applied; anything else stops that table with an error naming the
column, and its data stays as it was. Lookup indexes (see `tables`) are built after the data:
a full reload drops them first, since one index build is faster than a million index inserts.
"""

from __future__ import annotations

import psycopg
import pyarrow as pa
from psycopg import sql


class WarehouseSchemaError(ValueError):
    """A lake table cannot follow its Iceberg table's schema without losing data."""


_SIMPLE_TYPES = {
    pa.bool_(): "boolean",
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float32(): "real",
    pa.float64(): "double precision",
    pa.string(): "text",
    pa.large_string(): "text",
    pa.binary(): "bytea",
    pa.large_binary(): "bytea",
    pa.date32(): "date",
}
_WIDENINGS = {("smallint", "integer"), ("smallint", "bigint"), ("integer", "bigint"), ("real", "double precision")}


def postgres_type(arrow_type: pa.DataType) -> str:
    if arrow_type in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[arrow_type]
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp with time zone" if arrow_type.tz else "timestamp without time zone"
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return postgres_type(arrow_type.value_type) + "[]"
    raise WarehouseSchemaError(f"no Postgres type for Arrow type {arrow_type}")


def _is_widening(old: str, new: str) -> bool:
    if (old, new) in _WIDENINGS:
        return True
    if old.startswith("numeric(") and new.startswith("numeric("):
        (p1, s1), (p2, s2) = (tuple(map(int, t[8:-1].split(","))) for t in (old, new))
        return s1 == s2 and p2 >= p1
    return False


def existing_columns(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (schema, table),
    ).fetchall()
    return dict(rows)


def _drop_dependent_views(conn: psycopg.Connection, schema: str, table: str) -> list[str]:
    """Drop the views (dbt's staging) over a table, which would block a column type change."""
    views = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT v.oid::regclass::text FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid"
            " JOIN pg_class v ON v.oid = r.ev_class WHERE d.refobjid = format('%%I.%%I', %s::text, %s::text)::regclass"
            " AND v.oid <> d.refobjid",
            (schema, table),
        )
    ]
    for view in views:
        conn.execute(sql.SQL("DROP VIEW IF EXISTS {} CASCADE").format(sql.SQL(view)))
    return views


def ensure_table(conn: psycopg.Connection, schema: str, table: str, arrow: pa.Schema, key: str) -> list[str]:
    """Create `schema.table` for `arrow`, or evolve it; returns the changes made, for the log."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    target = sql.Identifier(schema, table)
    existing = existing_columns(conn, schema, table)
    wanted = {f.name: postgres_type(f.type) for f in arrow}
    if not existing:
        columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in wanted.items()]
        columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.Identifier(key)))
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(columns)))
        return [f"created {schema}.{table}"]
    changes = []
    for name, kind in wanted.items():
        old = existing.get(name)
        if old is None:
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(target, sql.Identifier(name), sql.SQL(kind)))
            changes.append(f"added {name} {kind}")
        elif old != kind:
            if not _is_widening(old, kind):
                raise WarehouseSchemaError(
                    f"{schema}.{table}.{name} is {old} in the warehouse but {kind} in Iceberg; "
                    f"not a safe widening, so {table} was left as it was (reload it with --full-refresh "
                    f"after dropping the column)"
                )
            changes += [
                f"dropped view {view} (dbt recreates it)" for view in _drop_dependent_views(conn, schema, table)
            ]
            conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN {} TYPE {}").format(target, sql.Identifier(name), sql.SQL(kind))
            )
            changes.append(f"widened {name} {old} -> {kind}")
    return changes


def _lookup_index(table: str, column: str) -> str:
    return f"{table}__{column}"


def drop_lookup_indexes(conn: psycopg.Connection, schema: str, table: str, columns: tuple[str, ...]) -> None:
    for column in columns:
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(schema, _lookup_index(table, column))))


def ensure_lookup_indexes(conn: psycopg.Connection, schema: str, table: str, columns: tuple[str, ...]) -> None:
    """Index the lookup columns the table has (a column Iceberg has not gained yet is skipped)."""
    existing = existing_columns(conn, schema, table)
    for column in columns:
        if column in existing:
            conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                    sql.Identifier(_lookup_index(table, column)), sql.Identifier(schema, table), sql.Identifier(column)
                )
            )
