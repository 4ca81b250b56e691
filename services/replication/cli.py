"""`sandbox replicate`: change data capture from the source database to the S3 raw zone."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from services.platform.logs import console
from services.platform.settings import Settings
from services.replication import stage
from services.replication.errors import ReplicationError
from services.replication.native import ReplicationResult
from services.replication.raw_zone import Manifest, format_lsn


def _report(manifest: Manifest) -> None:
    tables = ", ".join(f"{name} {files.rows:,}" for name, files in manifest.tables.items())
    lag = f", lag {manifest.lag_seconds:.2f} s" if manifest.lag_seconds is not None else ""
    console.print(
        f"{manifest.kind} batch {manifest.batch_id}: {manifest.rows:,} rows, {manifest.bytes / 1e6:.1f} MB "
        f"up to LSN {format_lsn(manifest.end_lsn)}{lag} ({tables})"
    )


def replicate(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow/--once", help="Keep replicating until Ctrl-C, or drain what is pending and exit.")
    ] = False,
    resync: Annotated[bool, typer.Option(help="Take a new snapshot (after the slot was lost).")] = False,
    engine_name: Annotated[
        str | None,
        typer.Option("--engine", help="native or airbyte [default: SANDBOX_REPLICATION__ENGINE, native]"),
    ] = None,
) -> None:
    """Replicate the source database to s3://<raw bucket>/<database>/: a snapshot once, then every change."""
    settings: Settings = ctx.obj
    try:
        if follow:
            stopping = []
            signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
            signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
            result = stage.follow(settings, lambda: bool(stopping), _report, engine=engine_name)
        else:
            with console.status("replicating"):
                result = stage.replicate(settings, engine=engine_name, resync=resync, on_batch=_report)
    except ReplicationError as error:
        console.print(f"[red]replication stopped:[/] {error}")
        raise typer.Exit(1) from error
    lag = f"; lag {result.lag_seconds:.2f} s" if result.lag_seconds is not None else ""
    if isinstance(result, ReplicationResult) and not result.batches:
        console.print("nothing pending: raw is up to date")
    else:
        console.print(f"replicated {result.summary()}{lag}")
    for table in result.retired:
        console.print(
            f"[yellow]{table}: retired:[/] published no more; raw, silver and the warehouse keep its last state"
        )
    for table, error in result.stopped.items():
        console.print(f"[red]{table}: STOPPED:[/] {error}")
    if result.stopped:  # every other table went on; these wait for their fix
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(replicate)
