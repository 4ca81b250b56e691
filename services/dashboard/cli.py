"""`sandbox dashboard`: serve the dashboard (the Looker role) on settings.dashboard.host."""

from __future__ import annotations

from typing import Annotated

import typer

from services.platform.logs import console
from services.platform.settings import Settings


def dashboard(
    ctx: typer.Context,
    port: Annotated[
        int | None, typer.Option(help="Port to serve on (default: settings.dashboard.port, 8050).", show_default=False)
    ] = None,
) -> None:
    """Serve the dashboard: marts, live clickstream and pipeline freshness (Ctrl-C stops it)."""
    import uvicorn

    from services.dashboard.app import create_app

    settings: Settings = ctx.obj
    host, port = settings.dashboard.host, port or settings.dashboard.port
    console.print(
        f"dashboard on http://{host}:{port} (live charts refresh every {settings.dashboard.refresh_seconds} s)"
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command()(dashboard)
