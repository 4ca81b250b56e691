"""Arrow schemas as Postgres tables: the lake tables' DDL and their safe evolution.

A column Iceberg gained is added; a safe widening (integer -> bigint, real -> double,
more numeric digits) is applied; anything else stops that table with an error naming the
column, and its data stays as it was. Lookup indexes (see `tables`) are built after the data:
a first load drops them first, since one index build is faster than a million index inserts.

Besides the Iceberg table's columns, every lake table has `_sandbox_load_id`: the load that
last wrote the row (a load sets `sandbox.load_id` for its transaction, the column's default).
A table whose rows a parent's facts sum (see `tables`) also has `<table>__previous`, the same
columns: each row a load deleted or changed, as it was, stamped with that load. dbt's
incremental models take the changes of the loads they have not seen from these, whatever the
rows' own timestamps say.
"""

from __future__ import annotations

import psycopg
import pyarrow as pa
from psycopg import sql

from services.platform.pg_keys import key_columns_of
from services.platform.type_maps import UnsupportedTypeError, postgres_type


class WarehouseSchemaError(ValueError):
    """A lake table cannot follow its Iceberg table's schema without losing data."""


LOAD_ID = "_sandbox_load_id"  # the load that last wrote a lake row (or replaced a previous version)
LOAD_ID_SETTING = "sandbox.load_id"  # set by each load for its transaction
_LOAD_ID_DEFAULT = sql.SQL("current_setting({})::bigint").format(sql.Literal(LOAD_ID_SETTING))


def previous_versions(table: str) -> str:
    """The table of a lake table's deleted and changed rows, as they were."""
    return f"{table}__previous"


_WIDENINGS = {("smallint", "integer"), ("smallint", "bigint"), ("integer", "bigint"), ("real", "double precision")}


def _postgres_type(arrow: pa.DataType) -> str:
    try:
        return postgres_type(arrow)
    except UnsupportedTypeError as error:
        raise WarehouseSchemaError(str(error)) from None


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


def reload_reason(
    conn: psycopg.Connection, schema: str, table: str, arrow: pa.Schema, keys: tuple[str, ...]
) -> str | None:
    """Why the lake table must be emptied and loaded whole (a column's type changed in a way
    Postgres cannot widen in place, or the key moved to other columns), or None."""
    existing = existing_columns(conn, schema, table)
    for f in arrow:
        old, new = existing.get(f.name), _postgres_type(f.type)
        if old is not None and old != new and not _is_widening(old, new):
            return f"{f.name} changed from {old} to {new}"
    old_key = key_columns_of(conn, schema, table)
    if keys and existing and old_key != keys:  # (a lake table without a key gets one the same way)
        return f"key changed from ({', '.join(old_key)}) to ({', '.join(keys)})"
    return None


def _rekey(conn: psycopg.Connection, schema: str, table: str, old: tuple[str, ...], new: tuple[str, ...]) -> str:
    """The source moved the table's key to other columns (the caller emptied the table first)."""
    target = sql.Identifier(schema, table)
    for (constraint,) in conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'",
        (target.as_string(conn),),
    ).fetchall():
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, sql.Identifier(constraint)))
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(target, sql.SQL(", ").join(map(sql.Identifier, new)))
    )
    return f"key changed from ({', '.join(old)}) to ({', '.join(new)})"


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


def ensure_lake_table(
    conn: psycopg.Connection,
    schema: str,
    table: str,
    arrow: pa.Schema,
    keys: tuple[str, ...],
    previous: bool,
    retype: bool = False,
) -> list[str]:
    """The lake table (and its previous versions' table), created or evolved; returns the changes made."""
    changes = ensure_table(conn, schema, table, arrow, keys, retype)
    return changes + (ensure_table(conn, schema, previous_versions(table), arrow, (), retype) if previous else [])


def ensure_table(
    conn: psycopg.Connection, schema: str, table: str, arrow: pa.Schema, keys: tuple[str, ...], retype: bool = False
) -> list[str]:
    """Create `schema.table` for `arrow` (primary key `keys`, if any) with the load id, or evolve
    it; returns the changes made, for the log. A type that cannot be widened in place is refused,
    unless `retype` (the table is being loaded whole, see `reload_reason`): then the column is
    dropped and added again under its new type."""
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    target = sql.Identifier(schema, table)
    existing = existing_columns(conn, schema, table)
    wanted = {f.name: _postgres_type(f.type) for f in arrow}
    if not existing:
        columns = [sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in wanted.items()]
        columns.append(sql.SQL("{} bigint NOT NULL DEFAULT {}").format(sql.Identifier(LOAD_ID), _LOAD_ID_DEFAULT))
        if keys:
            columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, keys))))
        conn.execute(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(columns)))
        if not keys:  # a table of previous versions is read by load
            conn.execute(sql.SQL("CREATE INDEX ON {} ({})").format(target, sql.Identifier(LOAD_ID)))
        return [f"created {schema}.{table}"]
    changes = []
    if LOAD_ID not in existing:  # a lake table of an older release: its rows count as load 0
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} bigint NOT NULL DEFAULT 0").format(target, sql.Identifier(LOAD_ID))
        )
        conn.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
                target, sql.Identifier(LOAD_ID), _LOAD_ID_DEFAULT
            )
        )
        changes.append(f"added {LOAD_ID}")
    for name, kind in wanted.items():
        old = existing.get(name)
        if old is None:
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(target, sql.Identifier(name), sql.SQL(kind)))
            changes.append(f"added {name} {kind}")
        elif old != kind:
            if not _is_widening(old, kind) and retype:
                changes += [
                    f"dropped view {view} (dbt recreates it)" for view in _drop_dependent_views(conn, schema, table)
                ]
                conn.execute(sql.SQL("ALTER TABLE {} DROP COLUMN {}").format(target, sql.Identifier(name)))
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(target, sql.Identifier(name), sql.SQL(kind))
                )
                changes.append(f"retyped {name} {old} -> {kind}")
                continue
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
    if keys and (old_key := key_columns_of(conn, schema, table)) != keys:
        changes.append(_rekey(conn, schema, table, old_key, keys))
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
