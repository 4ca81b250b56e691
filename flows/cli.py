"""`sandbox deploy / run / reconcile`: the orchestrator's commands (the Airflow role)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markdown import Markdown

from services.platform.logs import console
from services.platform.settings import Settings


def deploy(ctx: typer.Context) -> None:
    """(Re)register every flow as a deployment with its schedule on the local worker's pool."""
    from flows.deployments import DEPLOYMENTS, deploy_all

    settings: Settings = ctx.obj
    with console.status("registering deployments"):
        names = deploy_all(settings)
    for name, spec in zip(names, DEPLOYMENTS, strict=True):
        console.print(f"{name:<22} {spec.cron or 'on demand':<14} {spec.description}")
    console.print(f"Prefect UI: {settings.prefect.api_url.removesuffix('/api')}/deployments")


def _parameters(pairs: list[str]) -> dict[str, object]:
    import json

    parameters: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{pair!r} is not k=v", param_hint="--param")
        try:
            parameters[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters[name] = value
    return parameters


def run(
    ctx: typer.Context,
    flow: Annotated[str, typer.Argument(help="generate, replicate, lakehouse, transform, maintain, stream, pipeline")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A flow parameter k=v (JSON values; repeatable).")
    ] = None,
) -> None:
    """Run one deployment now on the local worker and wait for it to finish."""
    from prefect.deployments import run_deployment

    from flows.deployments import DEPLOYMENT_NAME, DEPLOYMENTS

    settings: Settings = ctx.obj
    known = [d.flow for d in DEPLOYMENTS]
    if flow not in known:
        raise typer.BadParameter(f"unknown flow {flow!r}; flows: {', '.join(known)}", param_hint="FLOW")
    parameters = _parameters(param or [])
    from prefect.exceptions import ObjectNotFound

    try:
        with console.status(f"running {flow} (follow it in the Prefect UI)"):
            flow_run = run_deployment(f"{flow}/{DEPLOYMENT_NAME}", parameters=parameters, timeout=None)
    except ObjectNotFound:
        console.print(f"[red]no deployment {flow}/{DEPLOYMENT_NAME} on this Prefect server: run `sandbox deploy` first")
        raise typer.Exit(1) from None
    url = f"{settings.prefect.api_url.removesuffix('/api')}/runs/flow-run/{flow_run.id}"
    state = flow_run.state
    if state is None or not state.is_completed():
        console.print(
            f"[red]{flow} ended {state.name if state else 'without a state'}:[/] {state.message if state else ''}"
        )
        console.print(url)
        raise typer.Exit(1)
    console.print(f"{flow} completed: {url}")
    for artifact in _artifacts(flow_run.id):
        console.print(Markdown(artifact))
    ui = settings.prefect.api_url.removesuffix("/api")
    dashboard = f"http://{settings.dashboard.host}:{settings.dashboard.port}"
    console.print(f"Prefect UI: {ui}\nDashboard:  {dashboard}\ndbt docs:   {dashboard}/dbt-docs/")


def _artifacts(flow_run_id: object) -> list[str]:
    """The markdown artifacts a flow run left (the pipeline's stage table), oldest first."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read() -> list[str]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
            )
        return [a.data for a in sorted(found, key=lambda a: a.created) if a.type == "markdown"]

    return asyncio.run(read())


def reconcile(
    ctx: typer.Context,
    stream: Annotated[bool, typer.Option(help="Also check Kinesis against the real-time tables.")] = True,
    marts: Annotated[
        bool, typer.Option(help="Also compare every incremental dbt model with a build of it from scratch.")
    ] = False,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only this source table (repeatable) [default: all]")
    ] = None,
) -> None:
    """Compare every cell of every table at every hop; exit 1 and name the differing keys and columns."""
    from services.reconciliation.checks import ReconciliationError, as_table
    from services.reconciliation.reconcile import reconcile as run_reconcile

    settings: Settings = ctx.obj
    try:
        with console.status("reconciling"):
            checks = run_reconcile(settings, stream, table, marts)
    except ReconciliationError as error:
        console.print(as_table(error.checks))
        console.print(f"[red]{error}")
        raise typer.Exit(1) from error
    console.print(as_table(checks))


def register(app: typer.Typer) -> None:
    for command in (deploy, run, reconcile):
        app.command()(command)
