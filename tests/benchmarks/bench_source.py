"""Source: generate 1M orders (with items and payments) and load them, beside psql's plain \\copy.

Targets (issue: source): generated + loaded < 60 s on 2 cores; load >= 80% of the plain COPY rate.
The floor loads the same CSVs with psql's \\copy into an identical, freshly migrated database.
"""

from __future__ import annotations

import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

from services.platform.clients import Role, postgres_connect, postgres_credentials
from services.platform.local import toolchain
from services.platform.settings import Settings
from services.source.generator import generate_dataset, write_csvs
from services.source.loader import load_folder
from services.source.schema import apply_migrations
from services.source.tables import CSV_COLUMNS, TABLES, csv_name
from tests.benchmarks.isolated import isolated_sandbox, start

ORDERS = 1_000_000


def _fresh_database(settings: Settings, name: str) -> None:
    with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{settings.postgres.app_user}"')
    with postgres_connect(settings, name, Role.APP) as conn:
        apply_migrations(conn)


def _psql_copy(settings: Settings, database: str, folder: Path) -> float:
    user, password = postgres_credentials(settings, Role.APP)
    script = "\n".join(
        f"\\copy shop.{t} ({', '.join(CSV_COLUMNS[t])}) FROM '{folder / csv_name(t)}' WITH (FORMAT csv, HEADER true)"
        for t in TABLES
    )
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as f:
        f.write(script)
        f.flush()
        started = time.monotonic()
        subprocess.run(
            [
                str(toolchain.postgres_bin("psql")),
                "-X",
                "-q",
                "-1",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                settings.postgres.host,
                "-p",
                str(settings.postgres.port),
                "-U",
                user,
                "-d",
                database,
                "-f",
                f.name,
            ],
            check=True,
            env={**os.environ, "PGPASSWORD": password},
        )
        return time.monotonic() - started


def run() -> dict[str, object]:
    with isolated_sandbox("source") as (settings, _), tempfile.TemporaryDirectory() as scratch:
        start(settings, "postgres")
        folder = Path(scratch) / f"orders-{ORDERS}"
        started = time.monotonic()
        dataset = generate_dataset(ORDERS, seed=42, as_of=settings.source.history_end())
        rows = sum(len(t) for t in dataset.values())
        write_csvs(dataset, folder)
        generate_seconds = time.monotonic() - started
        csv_mb = sum((folder / csv_name(t)).stat().st_size for t in TABLES) / 1e6
        del dataset
        generate_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        _fresh_database(settings, "bench_loader")
        with postgres_connect(settings, "bench_loader", Role.APP) as conn:
            load_seconds = load_folder(conn, folder).seconds
        _fresh_database(settings, "bench_floor")
        floor_seconds = _psql_copy(settings, "bench_floor", folder)
    return {
        "orders": ORDERS,
        "rows_all_tables": rows,
        "csv_mb": round(csv_mb, 1),
        "generate_seconds": round(generate_seconds, 2),
        "generate_rows_per_second": round(rows / generate_seconds),
        "generate_peak_rss_mb": round(generate_peak_mb),
        "load_seconds": round(load_seconds, 2),
        "load_rows_per_second": round(rows / load_seconds),
        "psql_copy_seconds": round(floor_seconds, 2),
        "psql_copy_rows_per_second": round(rows / floor_seconds),
        "load_vs_plain_copy": round(floor_seconds / load_seconds, 3),
        "generate_plus_load_seconds": round(generate_seconds + load_seconds, 2),
        "targets": {"generate_plus_load_seconds": "< 60", "load_vs_plain_copy": ">= 0.8"},
    }
