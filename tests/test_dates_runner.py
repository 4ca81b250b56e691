"""`make test-dates` moves every process's clock by one offset, to the moment asked for."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

from tests.dates import faketime_library, moved_environment


def test_a_process_started_under_the_moved_environment_reads_the_moment() -> None:
    moment = datetime(2028, 2, 29, 23, 30, tzinfo=UTC)
    env = moved_environment(moment, faketime_library())
    assert env["SANDBOX_S3__SIGNED"] == "false"
    shown = subprocess.run(
        [sys.executable, "-c", "from datetime import UTC, datetime; print(datetime.now(UTC).isoformat())"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert abs((datetime.fromisoformat(shown.strip()) - moment).total_seconds()) < 60
