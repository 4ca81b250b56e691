"""Test session set-up: one set of real local services on free ports, data in a temp folder.

The sandbox's configuration is set through the environment before anything imports
Prefect or reads settings, so that this process, the `sandbox` CLI run as a subprocess,
and the flow runs Prefect's worker starts all see the same test services.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ports import isolated_environment


def pytest_configure(config: pytest.Config) -> None:
    home = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    os.environ.update(isolated_environment(home, work_pool="sandbox-test"))
    from services.platform.clients import prefect_environment
    from services.platform.logs import configure_logging
    from services.platform.settings import load_settings

    configure_logging()
    os.environ.update(prefect_environment(load_settings()))
    config.stash[_HOME] = home


_HOME = pytest.StashKey[Path]()


def pytest_unconfigure(config: pytest.Config) -> None:
    home = config.stash.get(_HOME, None)
    if home is None:
        return
    from services.platform.local import local_services
    from services.platform.settings import load_settings
    from services.platform.supervisor import Supervisor

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
    from services.platform import toolchain
    from services.platform.bootstrap import create_platform_resources
    from services.platform.local import local_services
    from services.platform.supervisor import Supervisor

    toolchain.install_kinesalite()
    supervisor = Supervisor(settings.home)
    for spec in local_services(settings):
        supervisor.start(spec)
    create_platform_resources(settings)
    yield


@pytest.fixture(scope="session")
def spark(settings, services):
    """One Spark session (one JVM) for the whole test run."""
    from services.platform.spark import spark_session

    session = spark_session(settings, app_name="sandbox-tests")
    yield session
    session.stop()
