"""Fixtures for the source system: generated CSV folders and throwaway source databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from services.platform.clients import Role, postgres_connect
from services.source.generator import generate_dataset, write_csvs
from services.source.schema import apply_migrations


@pytest.fixture(scope="session")
def small_csvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 orders' worth of CSVs (seed 7), generated once; copy before changing them."""
    folder = tmp_path_factory.mktemp("csv") / "orders-300-seed-7"
    write_csvs(generate_dataset(300, 7), folder)
    return folder


@pytest.fixture
def scratch_source(settings, services) -> Iterator[psycopg.Connection]:
    """A fresh, migrated database owned by the app role, dropped afterwards."""
    name = f"scratch_{uuid.uuid4().hex[:10]}"
    with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{settings.postgres.app_user}"')
    try:
        with postgres_connect(settings, name, Role.APP) as conn:
            apply_migrations(conn)
            yield conn
    finally:
        with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def table_fingerprints(conn: psycopg.Connection) -> dict[str, tuple[int, str | None]]:
    """Row count and an md5 of every row of every shop table, for "nothing changed" checks."""
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'shop' ORDER BY 1")]
    return {
        table: conn.execute(
            f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM shop.{table} t"
        ).fetchone()
        for table in tables
    }
