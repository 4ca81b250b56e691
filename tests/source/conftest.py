"""Fixtures for the source system: generated CSV folders and throwaway source databases."""

from __future__ import annotations

import psycopg


def table_fingerprints(conn: psycopg.Connection) -> dict[str, tuple[int, str | None]]:
    """Row count and an md5 of every row of every shop table, for "nothing changed" checks."""
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'shop' ORDER BY 1")]
    return {
        table: conn.execute(
            f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM shop.{table} t"
        ).fetchone()
        for table in tables
    }
