"""`sandbox up/down/status/logs/reset/env/setup`: the platform's commands.

The local profile starts the servers as processes; the compose profile hands over to
`docker compose`; the aws profile has nothing to start (Terraform owns those resources).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import subprocess
import sys
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.platform.local import toolchain
from services.platform.local.servers import local_services
from services.platform.local.supervisor import (
    OrphansError,
    ServiceError,
    ServiceStatus,
    Supervisor,
    follow_log,
    tail,
)
from services.platform.logs import console
from services.platform.settings import PROJECT_ROOT, Profile, Settings
from services.platform.spark import home as spark_home


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj


def _status_table(statuses: list[ServiceStatus]) -> Table:
    table = Table("service", "url", "pid", "state", "restarts")
    colours = {"healthy": "green", "unhealthy": "yellow", "stopped": "red"}
    for status in statuses:
        state = f"[{colours[status.state]}]{status.state}[/]"
        table.add_row(status.name, status.url, str(status.pid or "-"), state, str(status.restarts))
    return table


def _offer_to_stop_orphans(supervisor: Supervisor, error: OrphansError) -> None:
    """Ask (on a terminal) to stop the processes this home lost track of; else say how, and exit."""
    console.print(f"[red]error:[/] {error}")
    if not sys.stdin.isatty() or not typer.confirm(f"Stop pids {', '.join(map(str, error.pids))} now?"):
        raise typer.Exit(1) from error
    for service, pids in supervisor.stop_orphans().items():
        console.print(f"stopped {service} left running without a record (pids {', '.join(map(str, pids))})")


def _compose(*args: str) -> None:
    if shutil.which("docker") is None:
        raise typer.BadParameter("the compose profile needs Docker; `docker` is not on PATH")
    subprocess.run(["docker", "compose", *args], cwd=PROJECT_ROOT, check=True)


def setup() -> None:
    """Install what pip cannot: Spark's AWS SDK jars and one-jar SPARK_HOME, and the Kinesis emulator.

    First it runs Java, Node and npm once and says where each comes from: the machine's own,
    or the wheels' when the machine has none (so a machine with only Python works)."""
    try:
        for name, where in toolchain.runtimes().items():
            console.print(f"{name}: {where}")
    except toolchain.ToolchainError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(1) from error
    with console.status("unpacking the AWS SDK jars for Spark"):
        jars = toolchain.install_aws_jars()
    console.print(f"Spark AWS jars: {jars}")
    with console.status("merging Spark's jars into one for faster class loading (once, ~30 s)"):
        home = spark_home.install()
    console.print(f"Spark home: {home}")
    console.print(f"Java's base class archive: {toolchain.ensure_base_class_archive()}")
    with console.status("installing kinesalite with npm ci"):
        modules = toolchain.install_kinesalite()
    console.print(f"kinesalite: {modules}")


def up(ctx: typer.Context) -> None:
    """Start every service that is not running and wait until each answers; running twice is a no-op."""
    settings = _settings(ctx)
    if settings.profile is Profile.COMPOSE:
        _compose("up", "--detach", "--wait")
        return
    if not settings.runs_local_services:
        console.print(f"profile {settings.profile}: the cloud services are managed by Terraform, nothing to start")
        return
    toolchain.install_kinesalite()
    supervisor, statuses, started = Supervisor(settings.home), [], time.monotonic()
    for spec in local_services(settings):
        try:
            with console.status(f"starting {spec.name}"):
                statuses.append(supervisor.start(spec))
        except OrphansError as error:
            _offer_to_stop_orphans(supervisor, error)
            with console.status(f"starting {spec.name}"):
                statuses.append(supervisor.start(spec))
        except ServiceError as error:
            console.print(f"[red]error:[/] {error}")
            raise typer.Exit(1) from error
    from services.platform.bootstrap import create_platform_resources  # boto3 and pyiceberg: slow to import

    with console.status("creating buckets, stream and namespaces"):
        create_platform_resources(settings)
    console.print(_status_table(statuses))
    console.print(f"all services healthy in {time.monotonic() - started:.1f} s; data in {settings.home}")


def down(ctx: typer.Context) -> None:
    """Stop the local services (data is kept; `sandbox reset` wipes it)."""
    settings = _settings(ctx)
    if settings.profile is Profile.COMPOSE:
        _compose("down")
        return
    supervisor = Supervisor(settings.home)
    for spec in reversed(local_services(settings)):
        if supervisor.stop(spec):
            console.print(f"stopped {spec.name}")
    for service, pids in supervisor.stop_orphans().items():
        console.print(f"stopped {service} left running without a record (pids {', '.join(map(str, pids))})")


def status(
    ctx: typer.Context,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list: name, url, pid, healthy, restarts.")
    ] = False,
) -> None:
    """Show each local service: url, pid, whether it answers its health check, and how often it was restarted."""
    settings = _settings(ctx)
    supervisor = Supervisor(settings.home)
    statuses = [supervisor.status(spec) for spec in local_services(settings)]
    if as_json:
        typer.echo(json.dumps([s.as_dict() for s in statuses], indent=2))
    else:
        Console().print(_status_table(statuses))
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


def logs(
    ctx: typer.Context,
    service: Annotated[
        str, typer.Argument(help="postgres, seaweedfs, kinesis, prefect-server, prefect-worker or dashboard.")
    ],
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines from the end.")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines (Ctrl-C stops).")] = False,
) -> None:
    """Print the end of a local service's log (rotated at 10 MB, the last 3 kept as .log.1 to .log.3)."""
    settings = _settings(ctx)
    names = [spec.name for spec in local_services(settings)]
    if service not in names:
        raise typer.BadParameter(f"unknown service {service!r}; choose from {', '.join(names)}")
    path = Supervisor(settings.home).log_path(service)
    typer.echo(tail(path, lines))
    if follow:
        with contextlib.suppress(KeyboardInterrupt):
            for line in follow_log(path):
                typer.echo(line, nl=False)


def reset(
    ctx: typer.Context,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop the local services and delete all their data (the sandbox home folder)."""
    settings = _settings(ctx)
    if not yes:
        typer.confirm(f"Delete {settings.home} and everything the services stored?", abort=True)
    down(ctx)
    shutil.rmtree(settings.home, ignore_errors=True)
    console.print(f"removed {settings.home}")


def env(ctx: typer.Context) -> None:
    """Print shell exports that point psql, the aws cli, pyiceberg and pyspark at the sandbox."""
    from services.platform.catalog import catalog_properties
    from services.platform.clients import Role, postgres_credentials
    from services.platform.spark.session import spark_conf

    settings = _settings(ctx)
    pg, aws = settings.postgres, settings.aws
    user, password = postgres_credentials(settings, Role.APP)
    exports = {
        "PGHOST": pg.host,
        "PGPORT": str(pg.port),
        "PGDATABASE": pg.source_db,
        "PGUSER": user,
        "PGPASSWORD": password,
        "AWS_REGION": aws.region,
        "PREFECT_API_URL": settings.prefect.api_url,
    }
    if keys := aws.keys():
        exports |= {"AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}
    if settings.s3.endpoint_url:
        exports["AWS_ENDPOINT_URL_S3"] = settings.s3.endpoint_url
    if settings.kinesis.endpoint_url:
        exports["AWS_ENDPOINT_URL_KINESIS"] = settings.kinesis.endpoint_url
    for key, value in catalog_properties(settings).items():
        exports[f"PYICEBERG_CATALOG__LAKE__{key.upper().replace('.', '__').replace('-', '_')}"] = value
    for key, value in exports.items():
        typer.echo(f"export {key}={shlex.quote(value)}")
    conf = " ".join(f"--conf {shlex.quote(f'{k}={v}')}" for k, v in spark_conf(settings).items())
    typer.echo(f"# pyspark against the lake:\n# pyspark {conf}")


def register(app: typer.Typer) -> None:
    for command in (setup, up, down, status, logs, reset, env):
        app.command()(command)
