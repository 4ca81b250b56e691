"""Creating a logical replication slot, with a watch on what it waits for.

Postgres creates a logical slot only once every transaction that holds a transaction id when
the creation starts has ended, in every database of the server. One forgotten session left
`idle in transaction` after a write would make the creation, and the run that needs it, wait
forever without a word. The watch names the transactions it waits for in the log while it waits,
and after `slot_wait_seconds` cancels the creation with an error that names them.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from services.platform.pg_sessions import waits_named
from services.replication.errors import ReplicationError


def create_logical_slot(
    walsender: psycopg.Connection, slot: str, temporary: bool, timeout: float, connect: Callable[[], psycopg.Connection]
) -> tuple[str, str]:
    """`CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')` on `walsender`: (its consistent point, the
    exported snapshot's name). `connect` opens an autocommit connection for the watch's queries."""
    statement = sql.SQL("CREATE_REPLICATION_SLOT {} {} LOGICAL pgoutput (SNAPSHOT 'export')").format(
        sql.Identifier(slot), sql.SQL("TEMPORARY" if temporary else "")
    )
    with (
        connect() as watch_conn,
        waits_named(walsender, watch_conn, timeout, f"creating replication slot {slot}") as blockers,
    ):
        try:
            _, point, snapshot_name, _ = walsender.execute(statement).fetchone()
        except psycopg.errors.QueryCanceled as error:
            raise ReplicationError(
                f"creating replication slot {slot!r} waited {timeout:.0f} s for transactions open since it started "
                f"and gave up: {'; '.join(blockers) or 'none is left'}. End them (commit, roll back, or "
                "pg_terminate_backend(pid)) and run again; nothing was written"
            ) from error
    return point, snapshot_name
