"""The key of a Postgres table: the source's, as replication, silver, the warehouse and reconciliation
all use it, and the warehouse's own lake tables'."""

from __future__ import annotations

import psycopg


def key_columns(conn: psycopg.Connection, oid: int) -> tuple[str, ...]:
    """The replica identity's index where the table names one (REPLICA IDENTITY USING INDEX),
    else the primary key; () for a table with neither. Postgres itself refuses the updates and
    deletes of such a table unless it is REPLICA IDENTITY FULL, and silver names it as keyless."""
    return tuple(
        row[0]
        for row in conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s AND CASE WHEN c.relreplident = 'i' THEN i.indisreplident"
            " ELSE i.indisprimary END ORDER BY array_position(i.indkey, a.attnum)",
            (oid,),
        )
    )


def key_columns_of(conn: psycopg.Connection, schema: str, table: str) -> tuple[str, ...]:
    """`key_columns` by name; () where the table does not exist."""
    row = conn.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))::oid", (schema, table)).fetchone()
    return key_columns(conn, row[0]) if row[0] is not None else ()
