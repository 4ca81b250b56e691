"""The replication stage as plain functions: the source's changes into the S3 raw zone.

`sandbox replicate` and the Prefect task call these and only render what they return. The
engine is chosen here alone (`engine_for`): `SANDBOX_REPLICATION__ENGINE` (native, or airbyte to
drive an Airbyte server through `airbyte-api`), or an explicit name that overrides it. Both
engines answer the same protocol, so nothing else asks which one runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from services.platform.settings import Settings
from services.replication.errors import ReplicationError
from services.replication.native import NativeEngine, Progress, ReplicationResult

if TYPE_CHECKING:
    from services.replication.airbyte import AirbyteSyncResult


class ReplicationEngine(Protocol):
    def run_once(
        self, progress: Progress | None = None, resync: bool = False
    ) -> ReplicationResult | AirbyteSyncResult: ...

    def follow(self, should_stop: Callable[[], bool], progress: Progress | None = None) -> ReplicationResult: ...


def _airbyte(settings: Settings) -> ReplicationEngine:
    from services.replication.airbyte import AirbyteEngine  # airbyte-api: only for this engine

    return AirbyteEngine(settings)


ENGINES: dict[str, Callable[[Settings], ReplicationEngine]] = {"native": NativeEngine, "airbyte": _airbyte}


def engine_for(settings: Settings, name: str | None = None) -> ReplicationEngine:
    chosen = name or settings.replication.engine
    if chosen not in ENGINES:
        raise ReplicationError(f"unknown replication engine {chosen!r}; choose {' or '.join(ENGINES)}")
    return ENGINES[chosen](settings)


def replicate(
    settings: Settings,
    engine: str | None = None,
    resync: bool = False,
    on_batch: Progress | None = None,
) -> ReplicationResult | AirbyteSyncResult:
    """Drain what is pending: the native engine snapshots once (or on `resync`) and then reads the
    slot; the Airbyte engine runs one sync job of its connection (set up if missing)."""
    return engine_for(settings, engine).run_once(on_batch, resync=resync)


def follow(
    settings: Settings, should_stop: Callable[[], bool], on_batch: Progress | None = None, engine: str | None = None
) -> ReplicationResult:
    """Replicate continuously until `should_stop()` (the native engine; Airbyte keeps its own schedule)."""
    return engine_for(settings, engine).follow(should_stop, on_batch)
