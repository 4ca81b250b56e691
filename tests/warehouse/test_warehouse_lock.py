"""Loads and dbt builds take turns; one that cannot get its turn says who holds it."""

from __future__ import annotations

import time

import pytest

from services.platform.clients import Role, postgres_connect
from services.warehouse.stage import WAREHOUSE_LOCK, WarehouseBusyError, build_models, load_lake


def test_a_turn_never_given_back_is_named_instead_of_waited_on(settings, services) -> None:
    impatient = settings.model_copy(
        update={"warehouse": settings.warehouse.model_copy(update={"lock_wait_seconds": 2.0})}
    )
    with postgres_connect(settings, settings.postgres.warehouse_db, Role.DBT, application_name="lock-keeper") as keeper:
        keeper.execute("SELECT pg_advisory_lock(hashtext(%s))", (WAREHOUSE_LOCK,))
        keeper.commit()  # a session-level lock outlives its transaction: the session is idle
        for stage in (build_models, load_lake):
            started = time.monotonic()
            with pytest.raises(
                WarehouseBusyError,
                match=r"waited 2 s .* held by pid \d+ \(database \w+, application lock-keeper, user \w+, idle",
            ):
                stage(impatient)
            assert time.monotonic() - started < 30
    assert build_models(settings, select=["stg_customers"]).success  # the holder gone, the turn comes
