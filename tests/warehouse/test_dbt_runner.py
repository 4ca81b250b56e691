"""dbt runs as a child process: a stalled command is stopped and says where it stood."""

from __future__ import annotations

import _thread
import re
import threading
import time

import psutil
import pytest

from services.platform.clients import Role, postgres_connect
from services.warehouse.dbt import DbtTimeoutError, dbt, innermost_frames


def test_a_stalled_command_is_stopped_naming_its_waits_and_stacks(settings, services) -> None:
    # parsed first: a fresh checkout's full parse alone can outlast a short limit
    assert dbt(settings, "parse").success
    started = time.monotonic()
    with pytest.raises(DbtTimeoutError) as stopped:
        dbt(settings, "show", "--inline", "select pg_sleep(300) as slept", timeout=20)
    assert time.monotonic() - started < 60
    message = str(stopped.value)
    assert "dbt show did not finish within 20 s" in message
    assert "Timeout:PgSleep" in message and "pg_sleep(300)" in message  # the session it waited on
    assert "Where its threads were: " in message and "not printed" not in message


def test_a_command_that_fails_before_any_node_says_why(settings) -> None:
    run = dbt(settings, "build", "--no-such-flag")
    assert not run.success and run.results == []
    assert "dbt build exited with code 2" in run.error() and "No such option '--no-such-flag'" in run.error()


def test_innermost_frames_of_a_faulthandler_dump() -> None:
    dump = [
        "Fatal Python error: Aborted",
        "",
        "Thread 0x00007f01 (most recent call first):",
        '  File "/venv/lib/python3.11/site-packages/psycopg2/extras.py", line 12 in execute',
        '  File "/venv/lib/python3.11/site-packages/dbt/adapters/sql/connections.py", line 90 in add_query',
        '  File "/venv/lib/python3.11/site-packages/dbt/task/run.py", line 7 in run',
        "",
        "Current thread 0x00007f02 (most recent call first):",
        '  File "/usr/lib/python3.11/threading.py", line 320 in wait',
    ]
    assert innermost_frames(dump) == (
        "12 in execute (extras.py) < 90 in add_query (connections.py) | 320 in wait (threading.py)"
    )


def test_a_command_waiting_on_a_lock_names_the_session_that_holds_it(settings, services) -> None:
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as setup:
        setup.execute("CREATE SCHEMA IF NOT EXISTS lock_probe")
        setup.execute("CREATE TABLE IF NOT EXISTS lock_probe.held (id int)")
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, application_name="lock-holder") as holder:
        holder.execute("LOCK TABLE lock_probe.held IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(DbtTimeoutError) as stopped:
            dbt(settings, "show", "--inline", "select count(*) from lock_probe.held", timeout=8)
        holder.rollback()
    assert re.search(
        r"Lock:relation for \d+ s, blocked by pid \d+ \(database \w+, application lock-holder, user \w+,"
        r" idle in transaction, transaction open \d+ s\)",
        str(stopped.value),
    ), str(stopped.value)


def test_a_caller_stopped_mid_command_leaves_no_dbt_behind(settings, services) -> None:
    """A test's timeout or Ctrl-C in the caller ends dbt and the helpers it started (its process group)."""
    marker = "caller_stopped_probe"
    threading.Timer(5, _thread.interrupt_main).start()
    with pytest.raises(KeyboardInterrupt):
        dbt(settings, "show", "--inline", f"select pg_sleep(120) as {marker}", timeout=60)
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"]) if marker in " ".join(p.info["cmdline"] or [])]
    assert left == []
