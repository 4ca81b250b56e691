"""`sandbox stream produce / consume`: the real-time path (the Kinesis + Databricks streaming roles)."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from services.platform.logs import console
from services.platform.settings import Settings

stream_app = typer.Typer(
    help="The real-time path: clickstream -> Kinesis -> Spark -> Iceberg.", no_args_is_help=True, rich_markup_mode=None
)


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
    from services.streaming.stage import produce as send

    settings: Settings = ctx.obj
    with console.status("producing") as status:
        result = send(
            settings, rate=rate, seconds=seconds, events=events, seed=seed,
            on_progress=lambda r: status.update(f"produced {r.events:,} events ({r.rate:,.0f}/s)"),
        )  # fmt: skip
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
    from services.streaming.stage import consume as take

    settings: Settings = ctx.obj
    stopping = _stopper()
    console.print(f"consuming {settings.kinesis.stream} (Ctrl-C stops after the current batch)")
    result = take(
        settings,
        until_idle,
        stop=lambda: bool(stopping),
        on_batch=lambda b: console.print(
            f"batch: {b.events:,} events, {b.dead_letters} dead letters, {b.records / b.seconds:,.0f} records/s, "
            f"arrival -> visible p50 {b.latency_p50:.2f} s p99 {b.latency_p99:.2f} s"
        ),
    )
    console.print(f"consumed {result.summary()}")


@stream_app.command()
def run(
    ctx: typer.Context,
    rate: Annotated[float, typer.Option(help="Target events per second (0: as fast as the stream takes them).")] = 1000,
    seconds: Annotated[float, typer.Option(help="How long to produce.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the clickstream (same seed, same events).")] = 0,
) -> None:
    """Produce for a while and consume until drained, the consumer in a process of its own (what the flows run)."""
    from services.streaming.stage import stream

    settings: Settings = ctx.obj
    console.print(f"starting the consumer, then producing to {settings.kinesis.stream} for {seconds:.0f} s")
    result = stream(
        settings, rate=rate, seconds=seconds, seed=seed,
        on_batch=lambda b: console.print(
            f"batch: {b.events:,} events, {b.dead_letters} dead letters, arrival -> visible p99 {b.latency_p99:.2f} s"
        ),
    )  # fmt: skip
    console.print(f"produced {result.produced.events:,} events ({result.produced.rate:,.0f}/s)")
    console.print(f"consumed {result.consumed.summary()}")


def register(app: typer.Typer) -> None:
    app.add_typer(stream_app, name="stream")
