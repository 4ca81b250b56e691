"""The replication stage as plain functions: the source's changes into the S3 raw zone.

`sandbox replicate` and the Prefect task call these and only render what they return. The
engine is chosen here alone: `SANDBOX_REPLICATION__ENGINE` (native, or airbyte to drive an
Airbyte server through `airbyte-api`), or an explicit `engine` that overrides it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from services.platform.settings import Settings
from services.replication.errors import ReplicationError
from services.replication.native import NativeEngine, Progress, ReplicationResult

if TYPE_CHECKING:
    from services.replication.airbyte import AirbyteSyncResult

ENGINES = ("native", "airbyte")


def engine_of(settings: Settings, engine: str | None = None) -> str:
    chosen = engine or settings.replication.engine
    if chosen not in ENGINES:
        raise ReplicationError(f"unknown replication engine {chosen!r}; choose {' or '.join(ENGINES)}")
    return chosen


def replicate(
    settings: Settings,
    engine: str | None = None,
    resync: bool = False,
    on_batch: Progress | None = None,
) -> ReplicationResult | AirbyteSyncResult:
    """Drain what is pending: the native engine snapshots once (or on `resync`) and then reads the
    slot; the Airbyte engine runs one sync job of its connection (set up if missing)."""
    if engine_of(settings, engine) == "airbyte":
        if resync:
            raise ReplicationError("--resync belongs to the native engine; reset the Airbyte connection instead")
        from services.replication.airbyte import AirbyteEngine  # airbyte-api: only for this engine

        return AirbyteEngine(settings).run_once()
    return NativeEngine(settings).run_once(on_batch, resync=resync)


def follow(
    settings: Settings, should_stop: Callable[[], bool], on_batch: Progress | None = None, engine: str | None = None
) -> ReplicationResult:
    """Replicate continuously until `should_stop()` (the native engine; Airbyte keeps its own schedule)."""
    if engine_of(settings, engine) == "airbyte":
        raise ReplicationError("--follow belongs to the native engine; Airbyte schedules its own syncs")
    return NativeEngine(settings).follow(should_stop, on_batch)
