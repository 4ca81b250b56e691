"""`make test-dates`: the test suite with the clock moved to moments where date code breaks.

Each run starts `pytest` with libfaketime preloaded and the clock moved by a fixed offset,
so every process of the run (pytest, the `sandbox` commands, Prefect, the flow runs,
Postgres, the Spark JVM, the Kinesis emulator) reads the same moved "now", and time runs
on from there: a run started at 23:30 crosses midnight. Monotonic clocks are left alone,
so timeouts and waits behave as always.

What it cannot move: SeaweedFS (S3 and the Iceberg REST catalog) is a static Go binary,
which reads the clock without the C library. It keeps the real time, and so the run
starts it without credentials and every client sends it unsigned requests
(`SANDBOX_S3__SIGNED=false`): a request signed at a moved time would be refused as skewed.
The Spark JVM keeps the real time too: the catalog stamps the metadata of some commits with
its own clock, the JVM stamps the snapshots it commits with its own, and Iceberg refuses a
table whose times disagree by more than a minute. So what Spark itself stamps (snapshot
times, `quarantined_at`) is real; everything it computes from the data is the data's.
Every other process runs as in `make test`, with the moved clock.

    python -m tests.dates                       # the three moments below, one after another
    python -m tests.dates --at 2027-01-31T23:30 -- -k silver   # one moment, pytest arguments after --
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

# The last day of a month late in the evening, a leap day, and the last minute of a year.
MOMENTS = ("2027-01-31T23:30:00", "2028-02-29T23:30:00", "2027-12-31T23:59:00")
DEBIAN_LIBRARY = Path("/usr/lib") / f"{platform.machine()}-linux-gnu" / "faketime" / "libfaketime.so.1"


def faketime_library() -> Path:
    """libfaketime: the `libfaketime` wheel's build (Linux x86_64), else Debian's `libfaketime` package."""
    spec = importlib.util.find_spec("libfaketime")
    if spec and spec.origin and sys.platform == "linux" and platform.machine() == "x86_64":
        return Path(spec.origin).parent / "vendor" / "libfaketime" / "src" / "libfaketime.so.1"
    if DEBIAN_LIBRARY.exists():
        return DEBIAN_LIBRARY
    sys.exit(
        f"test-dates needs libfaketime for {sys.platform}/{platform.machine()}: on Debian or Ubuntu "
        "`apt-get install libfaketime`; the libfaketime wheel covers Linux x86_64 only"
    )


def moved_environment(moment: datetime, library: Path) -> dict[str, str]:
    """The environment that moves every dynamically linked process's clock to `moment` from now on.

    Called under a moved clock already (the runner's own test), it moves from the real time: the
    offset in force is taken back out, and the library is preloaded once."""
    moved_by = int(os.environ.get("FAKETIME", "0")) if os.environ.get("LD_PRELOAD", "").count(str(library)) else 0
    offset = round((moment - datetime.now(UTC)).total_seconds()) + moved_by
    preloaded = os.environ.get("LD_PRELOAD", "").split()
    preload = " ".join([str(library), *(p for p in preloaded if p != str(library))])
    return {
        **os.environ,
        "LD_PRELOAD": preload,
        "FAKETIME": f"{offset:+d}",  # an offset, not "@moment": processes started later agree with earlier ones
        "DONT_FAKE_MONOTONIC": "1",
        # libfaketime's "monotonic fix" (on by default on glibc >= 2.30) shifts the deadline of
        # waits on a monotonic condition variable, so the JVM's timed waits return at once and its
        # timer threads spin: measured here, a 3 s series of parkNanos took 0.7 s at full CPU.
        "FAKETIME_FORCE_MONOTONIC_FIX": "0",
        # The Iceberg catalog (SeaweedFS) keeps the real clock, and Iceberg refuses metadata whose
        # times disagree by more than a minute: the JVM that commits to it keeps the real clock too.
        "FAKETIME_SKIP_CMDS": "java",
        "SANDBOX_S3__SIGNED": "false",
        # Unsigned, uploads would carry checksums in aws-chunked framing, which the store would keep as data.
        "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED",
    }


def run_at(moment: datetime, pytest_args: list[str], library: Path) -> int:
    print(f"==> the test suite at {moment:%Y-%m-%d %H:%M} UTC (moved clock)", flush=True)
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "pytest", *pytest_args], env=moved_environment(moment, library))
    print(f"==> {moment:%Y-%m-%d %H:%M} UTC: exit {code} in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.dates", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--at", action="append", help=f"a UTC moment (repeatable) [default: {', '.join(MOMENTS)}]", default=None
    )
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest, after --")
    options = parser.parse_args(argv)
    library = faketime_library()
    moments = [datetime.fromisoformat(at).replace(tzinfo=UTC) for at in options.at or MOMENTS]
    failed = [m for m in moments if run_at(m, options.pytest_args, library) != 0]
    for moment in failed:
        print(f"FAILED at {moment:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
