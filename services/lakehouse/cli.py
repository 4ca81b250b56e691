"""`sandbox lakehouse / maintain / sql`: the Spark jobs of the Databricks role, and a quick lake query."""

from __future__ import annotations

from typing import Annotated

import typer

from services.platform.logs import console
from services.platform.settings import Settings

TablesOption = Annotated[
    list[str] | None,
    typer.Option("--table", "-t", help="Only this table, e.g. orders (repeatable) [default: all]"),
]


def _spark(settings: Settings):
    from services.platform.spark.session import spark_session

    with console.status("starting Spark"):
        return spark_session(settings)


def lakehouse(
    ctx: typer.Context,
    table: TablesOption = None,
    full_refresh: Annotated[bool, typer.Option(help="Drop the silver tables and rebuild them from raw.")] = False,
) -> None:
    """Apply new raw batches to the Iceberg silver tables (merge, quarantine, schema evolution)."""
    from services.lakehouse.stage import apply_silver

    settings: Settings = ctx.obj
    with console.status("applying raw batches to silver"):
        results = apply_silver(settings, table, full_refresh=full_refresh)
    for result in results:
        console.print(("[red]" if result.error else "") + result.summary())
    if any(r.error for r in results):
        raise typer.Exit(1)


def maintain(ctx: typer.Context, table: TablesOption = None) -> None:
    """Compact files, rewrite manifests, expire old snapshots, remove orphans (silver and real-time tables)."""
    from services.lakehouse.stage import maintain as run_maintenance

    settings: Settings = ctx.obj
    with console.status("maintaining the silver and real-time tables"):
        done = run_maintenance(settings, table)
    for name, counts in done.items():
        console.print(f"{name}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))


def sql(
    ctx: typer.Context,
    statement: Annotated[str, typer.Argument(help='Spark SQL, e.g. "SELECT count(*) FROM silver.orders"')],
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 50,
) -> None:
    """Run one Spark SQL statement against the lake (catalog `lake` is the default) and show the result."""
    settings: Settings = ctx.obj
    spark = _spark(settings)
    frame = spark.sql(statement)
    rows = frame.limit(limit).collect()
    typer.echo("\t".join(frame.columns))
    for row in rows:
        typer.echo("\t".join("NULL" if v is None else str(v) for v in row))


def register(app: typer.Typer) -> None:
    for command in (lakehouse, maintain, sql):
        app.command()(command)
