"""Creating a logical replication slot, with a watch on what it waits for.

Postgres creates a logical slot only once every transaction that holds a transaction id when
the creation starts has ended, in every database of the server. One forgotten session left
`idle in transaction` after a write would make the creation, and the run that needs it, wait
forever without a word. The watch names the transactions it waits for in the log while it waits,
and after `slot_wait_seconds` cancels the creation with an error that names them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from services.platform.pg_sessions import blocking_pids, describe_sessions
from services.replication.errors import ReplicationError

log = logging.getLogger(__name__)

REPORT_EVERY_SECONDS = 10.0


def create_logical_slot(
    walsender: psycopg.Connection, slot: str, temporary: bool, timeout: float, connect: Callable[[], psycopg.Connection]
) -> tuple[str, str]:
    """`CREATE_REPLICATION_SLOT ... (SNAPSHOT 'export')` on `walsender`: (its consistent point, the
    exported snapshot's name). `connect` opens an autocommit connection for the watch's queries."""
    statement = sql.SQL("CREATE_REPLICATION_SLOT {} {} LOGICAL pgoutput (SNAPSHOT 'export')").format(
        sql.Identifier(slot), sql.SQL("TEMPORARY" if temporary else "")
    )
    with connect() as watch_conn, _watch(walsender, slot, timeout, watch_conn) as blockers:
        try:
            _, point, snapshot_name, _ = walsender.execute(statement).fetchone()
        except psycopg.errors.QueryCanceled as error:
            raise ReplicationError(
                f"creating replication slot {slot!r} waited {timeout:.0f} s for transactions open since it started "
                f"and gave up: {'; '.join(blockers) or 'none is left'}. End them (commit, roll back, or "
                "pg_terminate_backend(pid)) and run again; nothing was written"
            ) from error
    return point, snapshot_name


@contextmanager
def _watch(walsender: psycopg.Connection, slot: str, timeout: float, conn: psycopg.Connection) -> Iterator[list[str]]:
    """While the body runs: every few seconds log the transactions the slot waits for, and cancel
    `walsender`'s statement after `timeout` seconds. Yields the last list seen."""
    walsender_pid = walsender.info.backend_pid
    blockers: list[str] = []
    done = threading.Event()

    def watch() -> None:
        waited = 0.0
        while not done.wait(interval := min(REPORT_EVERY_SECONDS, timeout - waited)):
            waited += interval
            blockers[:] = describe_sessions(conn, blocking_pids(conn, walsender_pid)).values()
            if waited >= timeout:
                walsender.cancel_safe()
                return
            if blockers:
                log.warning("creating replication slot %s has waited %.0f s for: %s", slot, waited, "; ".join(blockers))

    watcher = threading.Thread(target=watch, name=f"slot-wait-{slot}", daemon=True)
    watcher.start()
    try:
        yield blockers
    finally:
        done.set()
        watcher.join()
