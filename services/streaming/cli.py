"""`sandbox stream produce / consume`: the real-time path (the Kinesis + Databricks streaming roles)."""

from __future__ import annotations

import signal
from itertools import islice
from typing import Annotated

import typer

from services.platform.logs import console
from services.platform.settings import Settings

stream_app = typer.Typer(help="The real-time path: clickstream -> Kinesis -> Spark -> Iceberg.", no_args_is_help=True)


def _stopper() -> list[bool]:
    stopping: list[bool] = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    return stopping


@stream_app.command()
def produce(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(help="Target events per second (0: as fast as the stream takes them).")] = 1000,
    seconds: Annotated[float, typer.Option(help="How long to produce.")] = 60,
    events: Annotated[int | None, typer.Option(help="Stop after this many events instead.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the clickstream (same seed, same events).")] = 0,
) -> None:
    """Send clickstream events of the source's customers and products to the Kinesis stream."""
    from services.platform.bootstrap import ensure_stream
    from services.platform.clients import Role, kinesis_client, postgres_connect
    from services.source.clickstream import clickstream, read_catalogue
    from services.streaming.producer import produce as send

    settings: Settings = ctx.obj
    with postgres_connect(settings, settings.postgres.source_db, Role.APP) as conn:
        catalogue = read_catalogue(conn)
    ensure_stream(settings)
    stream = clickstream(catalogue, seed)
    if events is not None:
        stream = islice(stream, events)
    with console.status("producing") as status:
        result = send(
            kinesis_client(settings),
            settings.kinesis.stream,
            stream,
            settings.streaming,
            rate=rate or None,
            seconds=None if events is not None else seconds,
            on_progress=lambda r: status.update(f"produced {r.events:,} events ({r.rate:,.0f}/s)"),
        )
    console.print(
        f"produced {result.events:,} events to {settings.kinesis.stream} in {result.seconds:.1f} s "
        f"({result.rate:,.0f}/s; {result.retried} records retried)"
    )


@stream_app.command()
def consume(
    ctx: typer.Context,
    until_idle: Annotated[bool, typer.Option(help="Stop once every shard is drained, instead of running on.")] = False,
) -> None:
    """Read every shard, validate, and commit events, per-minute counts and dead letters to Iceberg."""
    from services.platform.catalog import iceberg_catalog
    from services.platform.clients import kinesis_client
    from services.platform.spark import spark_session
    from services.streaming.consumer import StreamConsumer

    settings: Settings = ctx.obj
    with console.status("starting Spark"):
        spark = spark_session(settings, app_name="sandbox-stream")
    consumer = StreamConsumer(spark, settings, kinesis_client(settings), iceberg_catalog(settings))
    stopping = _stopper()
    console.print(f"consuming {settings.kinesis.stream} (Ctrl-C stops after the current batch)")
    result = consumer.run(
        until_idle,
        stop=lambda: bool(stopping),
        on_batch=lambda b: console.print(
            f"batch: {b.events:,} events, {b.dead_letters} dead letters, {b.records / b.seconds:,.0f} records/s, "
            f"arrival -> visible p50 {b.latency_p50:.2f} s p99 {b.latency_p99:.2f} s"
        ),
    )
    console.print(f"consumed {result.summary()}")


def register(app: typer.Typer) -> None:
    app.add_typer(stream_app, name="stream")
