"""Test session set-up: one set of real local services on free ports, data in a temp folder.

The sandbox's configuration is set through the environment before anything imports
Prefect or reads settings, so that this process, the `sandbox` CLI run as a subprocess,
and the flow runs Prefect's worker starts all see the same test services.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings

from tests.fixed_time import AS_OF
from tests.ports import isolated_environment

pytest_plugins = ("tests.failure_digest",)

# The property tests run against real services (tens of seconds an example): `make test` tries a
# few examples, the same ones every run (derandomized, so CI is repeatable), `make fuzz` many new
# ones (`--hypothesis-profile=fuzz`). `make test` does not shrink: shrinking reruns the whole
# pipeline per candidate, outlasts the test's timeout and then hides the first failure behind
# a Flaky report; the first failing example and its error are what CI should print.
# Loaded by name, not registered as "default": where a CI variable is set, Hypothesis loads its
# own "ci" profile at import (100 examples, shrinking), which outlasts the test's timeout.
hypothesis_settings.register_profile(
    "make-test", max_examples=3, derandomize=True, phases=(Phase.explicit, Phase.generate), print_blob=True
)
hypothesis_settings.register_profile("fuzz", max_examples=60, derandomize=False)  # new examples, even under CI
hypothesis_settings.load_profile("make-test")  # `--hypothesis-profile=fuzz` replaces it later


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "services: needs the real local services (set on every test that uses them)")
    home = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    os.environ.update(isolated_environment(home, work_pool="sandbox-test"))
    from services.platform.clients import prefect_environment
    from services.platform.logs import configure_logging
    from services.platform.settings import load_settings

    configure_logging()
    os.environ.update(prefect_environment(load_settings()))
    config.stash[_HOME] = home


_HOME = pytest.StashKey[Path]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that starts the services (directly or through a fixture): `make test-fast`
    runs the others, `-m "not services"`, in seconds."""
    for item in items:
        if "services" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.services)


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_HOME, None)
    if home is None:
        return
    from services.platform.local.servers import local_services
    from services.platform.local.supervisor import Supervisor
    from services.platform.settings import load_settings

    settings = load_settings()
    supervisor = Supervisor(settings.home)
    for spec in reversed(local_services(settings)):
        supervisor.stop(spec)
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def settings():
    from services.platform.settings import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def services(settings) -> Iterator[None]:
    """Start every local service once for the session (stopped in pytest_unconfigure)."""
    from services.platform.bootstrap import create_platform_resources
    from services.platform.local import toolchain
    from services.platform.local.servers import local_services
    from services.platform.local.supervisor import Supervisor

    toolchain.install_kinesalite()
    supervisor = Supervisor(settings.home)
    for spec in local_services(settings):
        supervisor.start(spec)
    create_platform_resources(settings)
    yield


@pytest.fixture(scope="session")
def small_csvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """300 orders' worth of CSVs (seed 7, the suite's as-of day), generated once; copy before changing them."""
    from services.source.generator import generate_dataset, write_csvs

    folder = tmp_path_factory.mktemp("csv") / "orders-300-seed-7"
    write_csvs(generate_dataset(300, 7, as_of=AS_OF), folder)
    return folder


@pytest.fixture
def scratch_source(settings, services) -> Iterator[psycopg.Connection]:
    """A fresh, migrated source database owned by the app role (with its replication slots, dropped afterwards)."""
    from services.platform.clients import Role, postgres_connect
    from services.source.schema import apply_migrations

    name = f"scratch_{uuid.uuid4().hex[:10]}"
    with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{settings.postgres.app_user}"')
    try:
        with postgres_connect(settings, name, Role.APP) as conn:
            apply_migrations(conn)
            yield conn
    finally:
        with postgres_connect(settings, "postgres", Role.ADMIN, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = %s", (name,)
            )
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def source(scratch_source, small_csvs: Path):
    """A scratch source database holding the 300-order dataset."""
    from services.source.loader import load_folder

    load_folder(scratch_source, small_csvs)
    scratch_source.commit()
    return scratch_source


@pytest.fixture
def engine_settings(settings):
    """Settings with a slot of this test's own (slots are shared by the whole server)."""
    replication = settings.replication.model_copy(update={"slot": f"test_{uuid.uuid4().hex[:12]}"})
    return settings.model_copy(update={"replication": replication})


@pytest.fixture(scope="session")
def spark(settings, services):
    """One Spark session (one JVM) for the whole test run."""
    from services.platform.spark.session import spark_session

    session = spark_session(settings, app_name="sandbox-tests", quick_start=True)  # small data
    yield session
    session.stop()


@pytest.fixture
def lake_settings(engine_settings):
    suffix = uuid.uuid4().hex[:8]
    lakehouse = engine_settings.lakehouse.model_copy(
        update={"silver_namespace": f"silver_{suffix}", "quarantine_namespace": f"quarantine_{suffix}"}
    )
    return engine_settings.model_copy(update={"lakehouse": lakehouse})


@pytest.fixture
def replicator(lake_settings, source):
    from services.replication.native import NativeEngine

    return NativeEngine(lake_settings, database=source.info.dbname)


@pytest.fixture
def job(spark, lake_settings, source):
    from services.lakehouse.silver import SilverJob

    return SilverJob(spark, lake_settings, database=source.info.dbname)
