"""The `sandbox` command: one entry point for every stage of the pipeline.

Each role's package adds its commands through `register(app)`; settings are read once
here and handed to the commands, which never read the environment themselves.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from flows import cli as flows_cli
from services.dashboard import cli as dashboard_cli
from services.lakehouse import cli as lakehouse_cli
from services.platform import cli as platform_cli
from services.platform.clients import prefect_environment
from services.platform.local.unreachable import service_down_message
from services.platform.logs import configure_logging, console
from services.platform.settings import Profile, load_settings
from services.replication import cli as replication_cli
from services.source import cli as source_cli
from services.streaming import cli as streaming_cli
from services.warehouse import cli as warehouse_cli

app = typer.Typer(
    name="sandbox",
    help="A local-first sandbox of a cloud data pipeline: Postgres -> S3 raw -> Iceberg -> warehouse -> marts.",
    no_args_is_help=True,
    rich_markup_mode=None,  # help texts show "[default: ...]" as written, not as markup
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    profile: Annotated[
        Profile | None, typer.Option(help="Override SANDBOX_PROFILE for this command.", show_default=False)
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level.")] = False,
) -> None:
    configure_logging(verbose)
    settings = load_settings(**({"profile": profile} if profile else {}))
    configure_logging(verbose, secrets=settings.secrets())
    os.environ.update(prefect_environment(settings))  # for Prefect's own client in this process
    ctx.obj = settings


platform_cli.register(app)
source_cli.register(app)
replication_cli.register(app)
lakehouse_cli.register(app)
warehouse_cli.register(app)
streaming_cli.register(app)
flows_cli.register(app)
dashboard_cli.register(app)


def run() -> None:
    """The `sandbox` entry point: a stage that finds a local service down says so in one line."""
    try:
        app()
    except Exception as error:
        message = service_down_message(error, load_settings())
        if message is None:
            raise
        console.print(f"[red]error:[/] {message}")
        sys.exit(1)


if __name__ == "__main__":
    run()
