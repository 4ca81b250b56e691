"""Naming the Postgres sessions a stalled statement waits for, in the error that reports it.

A statement waiting on a lock, or a replication slot waiting for open transactions, says nothing
while it waits. The lock manager tells any role whom a session waits for (`pg_blocking_pids`);
state and transaction age show where the role may read other sessions' activity
(`pg_read_all_stats`), and read "hidden" elsewhere.
"""

from __future__ import annotations

import psycopg

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
