"""The source stage as plain functions: seed, load and tick the shop database (the RDS role).

`sandbox load / tick` and the Prefect tasks call these and only render what they return;
each opens its own connection from `Settings` as the application's role, and brings the
schema up to date first, so any of them works on a fresh database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from services.platform.clients import Role, postgres_connect
from services.platform.settings import Settings
from services.source.chaos import chaos_tick
from services.source.generator import default_output, generate_dataset, write_csvs
from services.source.loader import LoadResult, load_folder
from services.source.schema import apply_migrations
from services.source.tick import TickResult
from services.source.tick import tick as shop_tick

TableProgress = Callable[[str, int], None]  # (table, rows) as each table is done


@dataclass(frozen=True)
class SeedResult:
    existing_orders: int  # orders the source already held: then nothing was loaded
    loaded: LoadResult | None = None


def load(settings: Settings, folder: Path, progress: TableProgress | None = None) -> LoadResult:
    """Load a folder of CSVs in one transaction (a folder loaded before is skipped)."""
    with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
        apply_migrations(conn)
        return load_folder(conn, folder, progress)


def seed(settings: Settings, orders: int, seed: int, as_of: date | None = None) -> SeedResult:
    """Generate (once per orders, seed and as-of day: default `source.history_end()`) and load
    `orders` orders, unless the source holds orders already."""
    with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
        apply_migrations(conn)
        existing = conn.execute("SELECT count(*) FROM shop.orders").fetchone()[0]
        if existing:
            return SeedResult(existing_orders=existing)
        as_of = as_of or settings.source.history_end()
        folder = default_output(settings.source.generated_dir, orders, seed, as_of)
        if not folder.is_dir():
            write_csvs(generate_dataset(orders, seed, as_of=as_of), folder)
        return SeedResult(existing_orders=0, loaded=load_folder(conn, folder))


def tick(
    settings: Settings, orders: int = 100, seed: int | None = None, drift: bool = False, chaos: bool = False
) -> TickResult:
    """One tick of live shop changes; with `chaos` every change shape the source accepts instead."""
    with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
        apply_migrations(conn)
        if chaos:
            return chaos_tick(conn, seed=int(time.time()) if seed is None else seed)
        return shop_tick(conn, orders=orders, seed=seed, drift=drift)
