"""`sandbox generate / load / tick`: the source system's commands (the EC2 script and RDS roles)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.platform.logs import console
from services.platform.settings import Settings
from services.source import stage
from services.source.generator import default_output, generate_dataset, write_csvs
from services.source.loader import LoadError
from services.source.tables import TABLES


def _table_progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def _rows(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {counts[table]:,}" for table in TABLES if table in counts)


def generate(
    ctx: typer.Context,
    orders: Annotated[int, typer.Option(help="How many orders; customers and products scale with it.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Same seed, orders and --as-of give byte-identical CSVs.")] = 42,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="The day the history ends (the year before it, UTC); with --seed and --orders it fixes "
            "every byte [default: SANDBOX_SOURCE__AS_OF, else today]",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the CSVs [default: orders-N-seed-S-as-of-D under SANDBOX_SOURCE__GENERATED_DIR, "
            "seeds/generated]",
        ),
    ] = None,
) -> None:
    """Generate synthetic shop data as CSV (customers, addresses, products, orders, items, payments)."""
    settings: Settings = ctx.obj
    day = as_of.date() if as_of else settings.source.history_end()
    folder = out or default_output(settings.source.generated_dir, orders, seed, day)
    started = time.monotonic()
    with _table_progress() as progress:
        task = progress.add_task("generating", total=len(TABLES))
        dataset = generate_dataset(orders, seed, as_of=day, progress=lambda table, rows: progress.advance(task))
        progress.update(task, description="writing")
        counts = write_csvs(dataset, folder)
    console.print(f"generated {_rows(counts)} in {time.monotonic() - started:.1f} s -> {folder}")


def load(
    ctx: typer.Context,
    folder: Annotated[
        Path | None, typer.Argument(help="Folder of CSVs [default: the newest under seeds/generated]")
    ] = None,
) -> None:
    """Load a folder of CSVs into the source database with COPY, all or nothing."""
    settings: Settings = ctx.obj
    if folder is None:
        generated = settings.source.generated_dir
        candidates = sorted(generated.glob("orders-*"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise typer.BadParameter(f"no generated data under {generated}; run `sandbox generate` first")
        folder = candidates[-1]
    try:
        with _table_progress() as progress:
            task = progress.add_task("loading", total=len(TABLES))
            result = stage.load(settings, folder, lambda table, rows: progress.advance(task))
    except LoadError as error:
        console.print(f"[red]load failed, nothing was changed:[/] {error}")
        raise typer.Exit(1) from error
    if result.skipped:
        console.print(f"{folder} was loaded before ({_rows(result.rows)}); nothing to do")
    else:
        console.print(f"loaded {_rows(result.rows)} in {result.seconds:.1f} s from {folder}")


def tick(
    ctx: typer.Context,
    orders: Annotated[int, typer.Option(help="New orders this tick; other changes scale with it.")] = 100,
    seed: Annotated[int | None, typer.Option(help="Seed for repeatable ticks [default: the clock]")] = None,
    drift: Annotated[
        bool, typer.Option(help="Also apply the next schema release (adds customers.loyalty_tier).")
    ] = False,
    chaos: Annotated[
        bool,
        typer.Option(
            help="Instead, make every change shape the source accepts (lone child deletes, key changes, large "
            "and extreme values, every Unicode class, a truncate, schema drift): see services/source/chaos.py."
        ),
    ] = False,
) -> None:
    """Apply one tick of live changes: inserts, updates and hard deletes (the 2-hourly job)."""
    settings: Settings = ctx.obj
    with console.status("applying tick"):
        result = stage.tick(settings, orders=orders, seed=seed, drift=drift, chaos=chaos)
    if result.drift_applied:
        console.print(f"schema drift applied: {', '.join(result.drift_applied)}")
    console.print(f"tick in {result.seconds:.1f} s: {result.summary()}")


def register(app: typer.Typer) -> None:
    for command in (generate, load, tick):
        app.command()(command)
