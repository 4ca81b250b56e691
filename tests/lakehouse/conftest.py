"""Fixtures for the lakehouse: a replicated scratch source and a silver job writing to
namespaces of this test's own, and a reader of silver through pyiceberg."""

from __future__ import annotations

import uuid

import pytest

from services.lakehouse.silver import SilverJob
from services.platform.catalog import iceberg_catalog
from services.replication.native import NativeEngine


@pytest.fixture
def lake_settings(engine_settings):
    suffix = uuid.uuid4().hex[:8]
    lakehouse = engine_settings.lakehouse.model_copy(
        update={"silver_namespace": f"silver_{suffix}", "quarantine_namespace": f"quarantine_{suffix}"}
    )
    return engine_settings.model_copy(update={"lakehouse": lakehouse})


@pytest.fixture
def replicator(lake_settings, source) -> NativeEngine:
    return NativeEngine(lake_settings, database=source.info.dbname)


@pytest.fixture
def job(spark, lake_settings, source) -> SilverJob:
    return SilverJob(spark, lake_settings, database=source.info.dbname)


def silver_rows(settings, table: str, key: str, namespace: str | None = None) -> dict[object, dict[str, object]]:
    """A silver table read with pyiceberg (not Spark): the other engine must agree."""
    name = f"{namespace or settings.lakehouse.silver_namespace}.{table}"
    rows = iceberg_catalog(settings).load_table(name).scan().to_arrow().to_pylist()
    return {row[key]: row for row in rows}
