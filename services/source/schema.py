"""Versioned SQL migrations of the source database, applied once each, in order.

`migrations/` is the application's schema; `drift/` holds later releases that
`sandbox tick --drift` applies, to exercise schema evolution downstream. Applied
versions are recorded in `ops.schema_migrations` (outside the replicated `shop` schema);
an advisory lock makes concurrent runs safe.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

MIGRATIONS = Path(__file__).parent / "migrations"
DRIFT = Path(__file__).parent / "drift"


def apply_migrations(conn: psycopg.Connection, folder: Path = MIGRATIONS) -> list[str]:
    """Apply every not-yet-applied `*.sql` in `folder`; return the versions applied now."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('shop-schema-migrations'))")
        conn.execute(
            "CREATE SCHEMA IF NOT EXISTS ops;"
            "CREATE TABLE IF NOT EXISTS ops.schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM ops.schema_migrations")}
        for path in sorted(folder.glob("*.sql")):
            version = f"{folder.name}/{path.stem}"
            if version in done:
                continue
            conn.execute(path.read_text())
            conn.execute("INSERT INTO ops.schema_migrations (version) VALUES (%s)", (version,))
            applied_now.append(version)
    return applied_now
