"""The stage chooses the engine; an engine says what belongs to the other one."""

from __future__ import annotations

import pytest

from services.platform.settings import Settings
from services.replication.errors import ReplicationError
from services.replication.native import NativeEngine
from services.replication.stage import engine_for


def test_the_setting_or_an_explicit_name_chooses_the_engine() -> None:
    settings = Settings(_env_file=None)
    assert isinstance(engine_for(settings), NativeEngine)
    with pytest.raises(ReplicationError, match="unknown replication engine 'dms'; choose native or airbyte"):
        engine_for(settings, "dms")


def test_the_airbyte_engine_names_what_belongs_to_the_native_one() -> None:
    engine = engine_for(Settings(_env_file=None), "airbyte")
    with pytest.raises(ReplicationError, match="--follow belongs to the native engine"):
        engine.follow(lambda: True)
    with pytest.raises(ReplicationError, match="--resync belongs to the native engine"):
        engine.run_once(resync=True)
