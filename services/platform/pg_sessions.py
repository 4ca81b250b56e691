"""Naming the Postgres sessions a stalled statement waits for, while it waits and in its error.

A statement waiting on a lock, or a replication slot waiting for open transactions, says nothing
while it waits. The lock manager tells any role whom a session waits for (`pg_blocking_pids`);
state and transaction age show where the role may read other sessions' activity
(`pg_read_all_stats`), and read "hidden" elsewhere. Every connection of the sandbox carries its
process id in `application_name`, so a name leads to the process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

log = logging.getLogger(__name__)
REPORT_EVERY_SECONDS = 10.0

_SESSIONS = """
SELECT pid, a.datname, coalesce(nullif(a.application_name, ''), '-'), a.usename,
       coalesce(a.state, 'state hidden'),
       coalesce(round(extract(epoch FROM now() - a.xact_start))::text || ' s', 'for a time hidden')
FROM pg_stat_activity a WHERE pid = ANY(%s)
ORDER BY a.xact_start
"""


def blocking_pids(conn: psycopg.Connection, pid: int) -> list[int]:
    """The sessions `pid` waits for, from the lock manager."""
    return conn.execute("SELECT pg_blocking_pids(%s)", (pid,)).fetchone()[0]


def describe_sessions(conn: psycopg.Connection, pids: list[int]) -> dict[int, str]:
    """Each of `pids` that still exists, oldest transaction first, as one readable phrase."""
    return {
        pid: f"pid {pid} (database {db}, application {app}, user {user}, {state}, transaction open {age})"
        for pid, db, app, user, state, age in conn.execute(_SESSIONS, (pids,)).fetchall()
    }


@contextmanager
def waits_named(
    waiting: psycopg.Connection, watch: psycopg.Connection, timeout: float, what: str
) -> Iterator[list[str]]:
    """While the body runs one statement on `waiting`: every few seconds log the sessions it waits
    for (`what` names what it waits to get), and cancel it after `timeout` seconds (the body then
    sees `psycopg.errors.QueryCanceled`). `watch` is another connection, for the watch's queries.
    Yields the blockers last seen, described."""
    pid = waiting.info.backend_pid
    blockers: list[str] = []
    done = threading.Event()

    def report() -> None:
        waited = 0.0
        while not done.wait(interval := min(REPORT_EVERY_SECONDS, timeout - waited)):
            waited += interval
            blockers[:] = describe_sessions(watch, blocking_pids(watch, pid)).values()
            if waited >= timeout:
                waiting.cancel_safe()
                return
            if blockers:
                log.warning("%s has waited %.0f s for: %s", what, waited, "; ".join(blockers))

    watcher = threading.Thread(target=report, name=f"wait-watch-{pid}", daemon=True)
    watcher.start()
    try:
        yield blockers
    finally:
        done.set()
        watcher.join()
