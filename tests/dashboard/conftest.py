"""Fixtures for the dashboard: scratch marts with known numbers, a live Iceberg table, the app on a free port."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
import uvicorn

from services.dashboard.app import create_app
from services.platform.catalog import iceberg_catalog
from services.platform.clients import Role, postgres_connect
from services.streaming.tables import ensure_realtime_table
from tests.dashboard import known
from tests.dashboard.chromium import BUILDS, LAUNCH_ARGS, find_chromium
from tests.ports import free_ports


def scoped(settings, *, marts: str, lake: str, namespace: str, refresh_seconds: int = 5):
    warehouse = settings.warehouse.model_copy(update={"marts_schema": marts, "lake_schema": lake})
    streaming = settings.streaming.model_copy(update={"realtime_namespace": namespace})
    dashboard = settings.dashboard.model_copy(update={"refresh_seconds": refresh_seconds})
    return settings.model_copy(update={"warehouse": warehouse, "streaming": streaming, "dashboard": dashboard})


@pytest.fixture(scope="session")
def dashboard_settings(settings, services):
    """Settings whose marts and lake schemas hold the known rows; their real-time namespace does not exist."""
    suffix = uuid.uuid4().hex[:8]
    scoped_settings = scoped(
        settings, marts=f"marts_{suffix}", lake=f"lake_{suffix}", namespace=f"realtime_{suffix}", refresh_seconds=1
    )
    marts, lake = scoped_settings.warehouse.marts_schema, scoped_settings.warehouse.lake_schema
    # A connection per step, none held: other tests restart Postgres during the session.
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        known.create_marts(conn, marts)
        known.create_loads(conn, lake)
    yield scoped_settings
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, autocommit=True) as conn:
        known.drop_schemas(conn, marts, lake)


@pytest.fixture
def empty_settings(settings, services):
    """Settings naming schemas and a namespace that do not exist: a sandbox before its first run."""
    suffix = uuid.uuid4().hex[:8]
    return scoped(settings, marts=f"nomarts_{suffix}", lake=f"nolake_{suffix}", namespace=f"norealtime_{suffix}")


@pytest.fixture
def live_settings(dashboard_settings):
    """dashboard_settings with a real-time namespace of this test's own (created by the test, dropped after)."""
    namespace = f"realtime_{uuid.uuid4().hex[:8]}"
    streaming = dashboard_settings.streaming.model_copy(update={"realtime_namespace": namespace})
    yield dashboard_settings.model_copy(update={"streaming": streaming})
    catalog = iceberg_catalog(dashboard_settings)
    for table in catalog.list_tables(namespace) if (namespace,) in catalog.list_namespaces() else []:
        catalog.purge_table(table)
    if (namespace,) in catalog.list_namespaces():
        catalog.drop_namespace(namespace)


@pytest.fixture
def add_live_rows(live_settings) -> Callable[[list[dict[str, object]]], None]:
    """Create `<namespace>.events_per_minute` as the streaming path declares it and add rows to it."""

    def add(rows: list[dict[str, object]]) -> None:
        catalog = iceberg_catalog(live_settings)
        table = ensure_realtime_table(catalog, live_settings.streaming.realtime_namespace, "events_per_minute")
        known.add_rows(table, rows)

    return add


@contextmanager
def serving(settings) -> Iterator[str]:
    """The dashboard app under uvicorn in a thread on a free port; yields its base URL."""
    port = free_ports(1)[0]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def serve() -> Callable[..., AbstractContextManager[str]]:
    return serving


@pytest.fixture(scope="module", params=BUILDS)
def browser(request):
    """Headless Chromium under Playwright (no `playwright install`: see tests/dashboard/chromium.py),
    once per build: a real browser asks for things of its own (a favicon, say) that a test must
    not mistake for the page's errors.

    Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    while it is open, and Prefect's clients in later tests would then hand back coroutines.
    """
    from playwright.sync_api import sync_playwright

    chromium = find_chromium(request.param)
    if chromium is None:
        pytest.skip(f"no {request.param} Chromium on this machine (Debian: apt install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(chromium.executable), args=LAUNCH_ARGS, env={**os.environ, **chromium.env}
        )
        yield launched
        launched.close()
