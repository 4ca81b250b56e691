"""`sandbox transform / export / docs`: the warehouse and dbt (the Redshift/Snowflake + dbt roles)."""

from __future__ import annotations

from typing import Annotated

import typer

from services.platform.logs import console
from services.platform.settings import Settings


def transform(
    ctx: typer.Context,
    select: Annotated[
        list[str] | None, typer.Option("--select", "-s", help="dbt selection, e.g. marts or +fct_orders (repeatable).")
    ] = None,
    full_refresh: Annotated[
        bool, typer.Option(help="Reload every lake table from its current Iceberg snapshot and rebuild dbt models.")
    ] = False,
    skip_load: Annotated[bool, typer.Option(help="Only run dbt; leave the lake schema as it is.")] = False,
) -> None:
    """Load new Iceberg snapshots into the warehouse's lake schema, then `dbt build` (models, snapshot, tests)."""
    from services.warehouse.dbt import DbtBuildError
    from services.warehouse.stage import build_models, load_lake

    settings: Settings = ctx.obj
    if not skip_load:
        with console.status("loading Iceberg tables into the warehouse"):
            results = load_lake(settings, full_refresh=full_refresh)
        for result in results:
            console.print(("[red]" if result.error else "") + result.summary())
        if any(r.error for r in results):
            raise typer.Exit(1)
    try:
        build_models(settings, select, full_refresh)
    except DbtBuildError as error:
        console.print(f"[red]{error}")
        raise typer.Exit(1) from error
    console.print("dbt build passed")


def export(ctx: typer.Context) -> None:
    """Write every mart to s3://<final bucket>/<mart>/<mart>.parquet and to the Iceberg table gold.<mart>."""
    from services.warehouse.stage import export as export_marts

    settings: Settings = ctx.obj
    with console.status("exporting marts"):
        results = export_marts(settings)
    for result in results:
        console.print(f"{result.mart}: {result.rows:,} rows -> {result.key} (sha256 {result.sha256[:12]})")


def docs(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the docs server on 127.0.0.1.")] = 8081,
) -> None:
    """Generate dbt's documentation site and serve it on 127.0.0.1 (Ctrl-C stops it)."""
    from services.warehouse.dbt import dbt

    settings: Settings = ctx.obj
    with console.status("generating dbt docs"):
        generated = dbt(settings, "docs", "generate")
    if not generated.success:
        console.print(f"[red]dbt docs generate failed: {generated.error()}")
        raise typer.Exit(1)
    console.print(f"dbt docs on http://127.0.0.1:{port}")
    dbt(settings, "docs", "serve", "--host", "127.0.0.1", "--port", str(port), "--no-browser", timeout=0)


def register(app: typer.Typer) -> None:
    for command in (transform, export, docs):
        app.command()(command)
