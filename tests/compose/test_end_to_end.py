"""The parts of `make test-compose` that need no Docker engine: reading `docker stats` and the
one line it stops with where Docker is missing (the run itself is `make test-compose`)."""

from __future__ import annotations

import pytest

from tests.compose.end_to_end import memory_mb, missing_docker


@pytest.mark.parametrize(
    ("usage", "megabytes"),
    [("1.398GiB / 3GiB", 1.398 * 1024), ("83.28MiB / 1GiB", 83.28), ("512KiB / 1GiB", 0.5), ("0B / 0B", 0.0)],
)
def test_docker_stats_memory_is_read_in_mebibytes(usage: str, megabytes: float) -> None:
    assert memory_mb(usage) == pytest.approx(megabytes)


def test_without_docker_it_says_what_is_missing_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker command on it
    problem = missing_docker()
    assert problem is not None and "\n" not in problem
    assert problem.startswith("make test-compose needs Docker with Compose v2: there is no docker command")
    assert "tests/compose/engine.sh start" in problem
